"""``pods/{name}/log`` through the ``kubernetes`` client: follow, container, tailLines, sinceSeconds, timestamps,
and pod retention (the pod goes away; CloudWatch Logs keeps the lines)."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from kubernetes.client import ApiException

from batch_eks_provider.hooks.pod_logs import fluent_bit_message
from tests.support.waits import wait_for, wait_for_job
from tests.support.aws import aws_client
from tests.support.blueprint import LOG_GROUP, NAMESPACE, submit_command, submit_gated_job
from tests.support.kubernetes import core_v1, running_pod


def read_log(core, *args, **kwargs) -> str:
    """``read_namespaced_pod_log`` as text: kubernetes client 36 hands a ``str`` response back as the repr of
    its bytes (``"b'...'"``), so the body is read raw and decoded here."""
    return core.read_namespaced_pod_log(*args, _preload_content=False, **kwargs).data.decode()


def _lines(response) -> list[str]:
    data = b"".join(response.stream(amt=1024))
    return data.decode().splitlines()


def test_follow_streams_lines_while_the_pod_runs_and_ends_with_it(batch, core, tmp_path):
    gate = tmp_path / "gate"
    job_id = submit_gated_job(batch, gate, before="first-line", after="last-line")
    pod = running_pod(core, job_id)
    response = core.read_namespaced_pod_log(pod.metadata.name, NAMESPACE, follow=True, _preload_content=False)
    chunks = response.stream(amt=1)
    first = b""
    while not first.endswith(b"\n"):
        first += next(chunks)
    assert first == b"first-line\n"
    # the stream is open and the pod still runs: the job waits on the gate
    assert core.read_namespaced_pod(pod.metadata.name, NAMESPACE).status.phase == "Running"
    gate.touch()
    rest = b"".join(chunks)  # ends by itself once the pod ends
    assert rest == b"last-line\n"
    assert core.read_namespaced_pod(pod.metadata.name, NAMESPACE).status.phase == "Succeeded"
    assert wait_for_job(batch, job_id)["status"] == "SUCCEEDED"


def test_follow_of_a_finished_pod_returns_everything_and_ends(batch, core):
    job_id = submit_command(batch, "echo one; echo two")
    job = wait_for_job(batch, job_id)
    pod_name = job["eksAttempts"][0]["podName"]
    response = core.read_namespaced_pod_log(pod_name, NAMESPACE, follow=True, _preload_content=False)
    assert _lines(response) == ["one", "two"]


def test_tail_lines_timestamps_and_limit_bytes(batch, core):
    job_id = submit_command(batch, "for i in 1 2 3 4 5; do echo line-$i; done")
    pod_name = wait_for_job(batch, job_id)["eksAttempts"][0]["podName"]
    assert read_log(core, pod_name, NAMESPACE) == "line-1\nline-2\nline-3\nline-4\nline-5\n"
    assert read_log(core, pod_name, NAMESPACE, tail_lines=2) == "line-4\nline-5\n"
    assert read_log(core, pod_name, NAMESPACE, tail_lines=0) == ""
    stamped = read_log(core, pod_name, NAMESPACE, timestamps=True, tail_lines=1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line-5\n", stamped), stamped
    assert read_log(core, pod_name, NAMESPACE, limit_bytes=9) == "line-1\nli"


def test_container_choice_in_a_pod_with_two_containers(batch, core):
    containers = [
        {
            "name": "main",
            "image": "busybox",
            "command": ["sh", "-c", "echo from-main"],
            "resources": {"limits": {"cpu": "0.5", "memory": "64Mi"}},
        },
        {
            "name": "sidecar",
            "image": "busybox",
            "command": ["sh", "-c", "echo from-sidecar"],
            "resources": {"limits": {"cpu": "0.5", "memory": "64Mi"}},
        },
    ]
    batch.register_job_definition(
        jobDefinitionName="two-containers",
        type="container",
        eksProperties={"podProperties": {"containers": containers}},
    )
    job_id = batch.submit_job(jobName="two", jobQueue="doeks-JQ1_OD", jobDefinition="two-containers")["jobId"]
    pod_name = wait_for_job(batch, job_id)["eksAttempts"][0]["podName"]
    assert read_log(core, pod_name, NAMESPACE, container="sidecar") == "from-sidecar\n"
    assert read_log(core, pod_name, NAMESPACE, container="main") == "from-main\n"
    with pytest.raises(ApiException) as raised:
        read_log(core, pod_name, NAMESPACE)
    assert raised.value.status == 400
    assert json.loads(raised.value.body)["message"] == (
        f"a container name must be specified for pod {pod_name}, choose one of: [main sidecar]"
    )
    with pytest.raises(ApiException) as raised:
        read_log(core, pod_name, NAMESPACE, container="nope")
    assert json.loads(raised.value.body)["message"] == f"container nope is not valid for pod {pod_name}"


def _advance(engine, seconds: float) -> None:
    request = urllib.request.Request(
        f"{engine.url}/_local/clock/advance",
        data=json.dumps({"seconds": seconds}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).read()


def test_since_seconds_counts_on_the_engine_clock(manual_engine, manual_batch, tmp_path):
    core = core_v1(manual_engine.url)
    gate = tmp_path / "gate"
    job_id = submit_gated_job(manual_batch, gate, before="early", after="late")
    pod = running_pod(core, job_id)
    wait_for(
        lambda: read_log(core, pod.metadata.name, NAMESPACE) == "early\n", what="the first line"
    )
    _advance(manual_engine, 100)
    gate.touch()
    wait_for_job(manual_batch, job_id)
    assert read_log(core, pod.metadata.name, NAMESPACE, since_seconds=50) == "late\n"
    assert read_log(core, pod.metadata.name, NAMESPACE, since_seconds=500) == "early\nlate\n"


def test_pods_go_away_after_retention_and_cloudwatch_keeps_their_lines(manual_engine, manual_batch):
    core = core_v1(manual_engine.url)
    logs = aws_client("logs", manual_engine.url)
    job_id = submit_command(manual_batch, "echo kept-1; echo kept-2")
    attempt = wait_for_job(manual_batch, job_id)["eksAttempts"][0]
    pod_name = attempt["podName"]
    _advance(manual_engine, 29)
    assert read_log(core, pod_name, NAMESPACE) == "kept-1\nkept-2\n"

    _advance(manual_engine, 2)  # past pod_retention_seconds=30

    def pod_gone():
        try:
            core.read_namespaced_pod(pod_name, NAMESPACE)
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(pod_gone, what="the pod to be deleted after its retention time")
    with pytest.raises(ApiException) as raised:
        read_log(core, pod_name, NAMESPACE)
    assert raised.value.status == 404
    events = logs.filter_log_events(
        logGroupName=LOG_GROUP, logStreamNamePrefix=f"{attempt['nodeName']}-application"
    )["events"]
    assert [fluent_bit_message(e["message"]) for e in events if pod_name in e["logStreamName"]] == ["kept-1", "kept-2"]
