"""``batch-eks local serve`` and ``batch-eks local reclaim`` as a user runs them: real subprocesses."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from batch_eks_provider.cli import build_parser
from tests.engine_k8s.support import aws_client, submit_gated_job
from tests.helpers import wait_for, wait_for_job

# Only so that a broken start-up fails instead of hanging; the 2 s start-up target is measured in
# benchmarks/engine.py ("serve start-up to /version"), not in tests.
STARTUP_LIMIT_SECONDS = 60.0


def _command() -> list[str]:
    script = Path(sys.executable).with_name("batch-eks")
    return [str(script)] if script.exists() else [sys.executable, "-m", "batch_eks_provider.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/version", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def served(tmp_path):
    """``batch-eks local serve`` on a free port; yields its URL once /version answers."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            *_command(), "local", "serve", "--port", str(port), "--blueprint", "data-on-eks",
            "--state-dir", str(tmp_path / "s"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: _answers(url) or process.poll() is not None,
            timeout=STARTUP_LIMIT_SECONDS,
            interval=0.02,
            what="the engine to answer",
        )
        assert process.poll() is None, process.communicate()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_serve_answers_version_and_serves_the_blueprint(served):
    url = served
    with urllib.request.urlopen(url + "/version", timeout=10) as response:
        assert json.loads(response.read())["major"] == "1"
    queues = aws_client("batch", url).describe_job_queues(jobQueues=["doeks-JQ1_OD"])["jobQueues"]
    assert queues[0]["state"] == "ENABLED"


def test_reclaim_stops_the_job_as_a_spot_interruption(served, tmp_path):
    url = served
    batch = aws_client("batch", url)
    job_id = submit_gated_job(batch, tmp_path / "never")
    wait_for_job(batch, job_id, statuses=("RUNNING",))
    done = subprocess.run(
        [*_command(), "local", "reclaim", job_id, "--url", url], capture_output=True, text=True, timeout=30
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
        [*_command(), "local", "reclaim", job_id, "--url", url], capture_output=True, text=True, timeout=30
    )
    assert again.returncode == 1
    assert f"Job {job_id} is FAILED" in again.stderr


def test_reclaim_without_an_engine_says_so():
    url = f"http://127.0.0.1:{_free_port()}"
    done = subprocess.run(
        [*_command(), "local", "reclaim", "some-job", "--url", url],
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
        [*_command(), "local", command, "--help"], capture_output=True, text=True, timeout=30
    )
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and len(action.help) > 10, f"{action.dest} has no help"
        for option in action.option_strings or [action.dest]:
            assert option in text, f"{option} is missing from `batch-eks local {command} --help`"
