"""``batch-eks local serve`` and ``batch-eks local reclaim`` as a user runs them: real subprocesses."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import urllib.request

import boto3
import pytest

from batch_eks_provider.cli import build_parser
from batch_eks_provider.cli import main as cli_main
from tests.support.waits import wait_for_job
from tests.support.aws import aws_client
from tests.support.blueprint import submit_gated_job
from tests.support.served_engine import batch_eks_command, free_port, serving


@pytest.fixture
def served(tmp_path):
    with serving(tmp_path / "s", ready_path="/version") as url:
        yield url


def test_serve_answers_version_and_serves_the_blueprint(served):
    url = served
    with urllib.request.urlopen(url + "/version", timeout=10) as response:
        assert json.loads(response.read())["major"] == "1"
    batch = aws_client("batch", url)
    queues = batch.describe_job_queues(jobQueues=["doeks-JQ1_OD"])["jobQueues"]
    assert queues[0]["state"] == "ENABLED"
    for queue in ("doeks-JQ1_OD", "doeks-JQ1_SPOT"):  # the blueprint's hello world, unchanged, on both queues
        job_id = batch.submit_job(jobName="hello", jobQueue=queue, jobDefinition="doeks-hello-world")["jobId"]
        assert wait_for_job(batch, job_id, timeout=60)["status"] == "SUCCEEDED"


def test_reclaim_stops_the_job_as_a_spot_interruption(served, tmp_path):
    url = served
    batch = aws_client("batch", url)
    job_id = submit_gated_job(batch, tmp_path / "never")
    wait_for_job(batch, job_id, statuses=("RUNNING",))
    done = subprocess.run(
        [*batch_eks_command(), "local", "reclaim", job_id, "--url", url], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("reclaimed node ip-")
    job = wait_for_job(batch, job_id)
    assert job["status"] == "FAILED"
    assert job["statusReason"].startswith("Host EC2 (instance i-") and job["statusReason"].endswith(
        ") terminated."
    )
    assert job["statusReason"].split("instance ")[1].split(")")[0] in done.stdout

    again = subprocess.run(
        [*batch_eks_command(), "local", "reclaim", job_id, "--url", url], capture_output=True, text=True, timeout=30
    )
    assert again.returncode == 1
    assert f"Job {job_id} is FAILED" in again.stderr


def test_reclaim_without_an_engine_says_so():
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [*batch_eks_command(), "local", "reclaim", "some-job", "--url", url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert f"cannot reach the engine at {url}" in done.stderr


@pytest.mark.parametrize("command", ["serve", "reclaim"])
def test_every_flag_is_documented_in_help(command):
    parser = build_parser()
    local = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["local"]
    sub = next(a for a in local._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    shown = subprocess.run(
        [*batch_eks_command(), "local", command, "--help"], capture_output=True, text=True, timeout=30
    )
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and len(action.help) > 10, f"{action.dest} has no help"
        for option in action.option_strings or [action.dest]:
            assert option in text, f"{option} is missing from `batch-eks local {command} --help`"


KEY, SECRET = "AKIDLOCALENGINE", "a-secret-of-thirty-two-characters"


def test_reclaim_signs_its_request_for_an_engine_with_credentials(tmp_path):
    guarded = {"BATCH_EKS_ACCESS_KEY_ID": KEY, "BATCH_EKS_SECRET_ACCESS_KEY": SECRET}
    with serving(tmp_path / "s", env=guarded, ready_path="/_local/health") as url:
        batch = boto3.client(
            "batch", endpoint_url=url, region_name="us-east-1", aws_access_key_id=KEY, aws_secret_access_key=SECRET
        )
        job_id = submit_gated_job(batch, tmp_path / "never")
        wait_for_job(batch, job_id, statuses=("RUNNING",))
        without_env = {k: v for k, v in os.environ.items() if not k.startswith("BATCH_EKS_")}

        def reclaim(*flags: str, env: dict[str, str] = without_env) -> subprocess.CompletedProcess:
            return subprocess.run(
                [*batch_eks_command(), "local", "reclaim", job_id, "--url", url, *flags],
                capture_output=True, text=True, timeout=30, env=env,
            )

        unsigned = reclaim()
        assert unsigned.returncode == 1 and "Missing Authentication Token" in unsigned.stderr
        wrong = reclaim("--access-key-id", KEY, "--secret-access-key", "not-the-secret-at-all-no")
        assert wrong.returncode == 1 and "signature we calculated does not match" in wrong.stderr
        half = reclaim("--access-key-id", KEY)
        assert half.returncode == 2 and "go together" in half.stderr
        signed = reclaim("--access-key-id", KEY, "--secret-access-key", SECRET)
        assert signed.returncode == 0, signed.stderr
        assert signed.stdout.startswith("reclaimed node ip-")
        job = wait_for_job(batch, job_id)
        assert job["status"] == "FAILED" and job["statusReason"].startswith("Host EC2 (instance i-")

        from_env = reclaim(env={**without_env, **guarded})  # the variables serve reads sign it too
        assert from_env.returncode == 1 and f"Job {job_id} is FAILED" in from_env.stderr


def test_serve_passes_only_the_named_environment_variables(monkeypatch):
    served = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: served.append(app))
    assert cli_main(["local", "serve", "--port", "0", "--pass-env", "HTTP_PROXY", "--pass-env", "PIP_INDEX_URL"]) == 0
    guard = served[-1]  # the browser guard around the engine's Starlette app
    assert guard.app.state.engine.state.config.pass_env == ("HTTP_PROXY", "PIP_INDEX_URL")
