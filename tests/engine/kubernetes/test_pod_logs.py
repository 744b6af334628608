"""``pods/{name}/log`` through the ``kubernetes`` client: follow, container, tailLines, sinceSeconds, timestamps,
stdout and stderr in one log, and pod retention (the pod goes away; CloudWatch Logs keeps the lines)."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from kubernetes.client import ApiException

from batch_eks_provider.hooks.pod_logs import fluent_bit_message
from tests.support.waits import wait_for, wait_for_job
from tests.support.aws import aws_client
from tests.support.blueprint import DEFINITION, LOG_GROUP, NAMESPACE, QUEUE, submit_command, submit_gated_job
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


# prints out, err (to stderr), out2, each line once the engine has read the one before (nothing is left unread
# in its pipe): lines written microseconds apart to the two pipes are read in either order, as on a node
_EACH_LINE_ONCE_THE_LAST_IS_READ = (
    "import fcntl, struct, sys, termios, time\n"
    "def unread(f):\n"
    "    return struct.unpack('i', fcntl.ioctl(f.fileno(), termios.FIONREAD, bytes(4)))[0]\n"
    "for f, line in ((sys.stdout, 'out'), (sys.stderr, 'err'), (sys.stdout, 'out2')):\n"
    "    print(line, file=f, flush=True)\n"
    "    for _ in range(2000):\n"
    "        if not unread(f):\n"
    "            break\n"
    "        time.sleep(0.005)\n"
)


def _records(engine, attempt: dict) -> list[dict]:
    """The Fluent Bit records of the attempt's one container, from CloudWatch Logs through boto3."""
    logs = aws_client("logs", engine.url)
    prefix = f"{attempt['nodeName']}-application.var.log.containers.{attempt['podName']}_{attempt['podNamespace']}_"
    (stream,) = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=prefix)["logStreams"]
    events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"], startFromHead=True)
    return [json.loads(e["message"]) for e in events["events"]]


def test_stdout_and_stderr_are_one_pod_log_and_each_record_says_which_stream_a_line_went_to(engine, batch, core):
    """``echo out; echo err >&2; echo out2``: the pod log has the three lines (stdout's in their order) and
    CloudWatch the same lines in the same order, each record's ``stream`` the one the line was written to.
    Which of ``err`` and ``out2`` comes first depends on when the engine read each pipe (the next test)."""
    job_id = submit_command(batch, "echo out; echo err >&2; echo out2")
    attempt = wait_for_job(batch, job_id)["eksAttempts"][0]
    pod_log = read_log(core, attempt["podName"], NAMESPACE).splitlines()
    assert sorted(pod_log) == ["err", "out", "out2"] and pod_log.index("out") < pod_log.index("out2")
    records = _records(engine, attempt)
    assert [r["log"] for r in records] == [line + "\n" for line in pod_log]
    assert {r["log"]: r["stream"] for r in records} == {"out\n": "stdout", "err\n": "stderr", "out2\n": "stdout"}


def test_lines_of_both_streams_come_in_the_order_written_once_each_was_read_before_the_next(engine, batch, core):
    container = {"command": ["python3", "-c", _EACH_LINE_ONCE_THE_LAST_IS_READ], "args": []}
    job_id = batch.submit_job(
        jobName="both-streams", jobQueue=QUEUE, jobDefinition=DEFINITION,
        eksPropertiesOverride={"podProperties": {"containers": [container]}},
    )["jobId"]  # fmt: skip
    attempt = wait_for_job(batch, job_id)["eksAttempts"][0]
    assert attempt["containers"][0]["exitCode"] == 0
    assert read_log(core, attempt["podName"], NAMESPACE) == "out\nerr\nout2\n"
    followed = core.read_namespaced_pod_log(attempt["podName"], NAMESPACE, follow=True, _preload_content=False)
    assert _lines(followed) == ["out", "err", "out2"]
    url = f"{engine.url}/api/v1/namespaces/{NAMESPACE}/pods/{attempt['podName']}/log?timestamps=true"
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": "Bearer k8s-aws-v1.x"})) as r:
        stamped = r.read().decode().splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["out", "err", "out2"]
    records = _records(engine, attempt)
    assert [(r["log"], r["stream"]) for r in records] == [("out\n", "stdout"), ("err\n", "stderr"), ("out2\n", "stdout")]


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
