"""Container Insights' Fluent Bit records in the engine's CloudWatch Logs, read back as users read them:
boto3 ``logs`` (GetLogEvents, FilterLogEvents, DescribeLogGroups) and the provider's CloudWatch fallback
(``BatchEksPodHook``, what the operator shows once a pod is gone).

Output is handed to the engine's log store on its own event loop, with the metadata Fluent Bit's
kubernetes filter adds, as the runtime hands a container's output over."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timezone

import pytest

from batch_eks_provider.hooks.pods import BatchEksPodHook, PodRef
from batch_eks_provider.local import LocalEngine
from batch_eks_provider.local.store.fluent_bit import MAX_EVENT_BYTES, container_id, fluent_bit_kubernetes, log_stream_name
from tests.support.aws import aws_client
from tests.support.blueprint import CLUSTER, LOG_GROUP, NAMESPACE
from tests.support.provider import aws_connection_json

NODE = "ip-10-1-60-65.ec2.internal"
POD_UID = "0f3a1b7e-5c2d-4e8f-9a6b-1c2d3e4f5a6b"
IMAGE = "public.ecr.aws/amazonlinux/amazonlinux:2"
LABELS = {"batch.amazonaws.com/job-id": "a13e1cff-121c-4a0b-a9c5-fab953136e20", "app": "hello"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("records-engine")
    with LocalEngine(blueprint="data-on-eks", state_dir=state_dir) as running:
        running.records_state_dir = state_dir
        yield running


def _print(engine: LocalEngine, pod: str, container: str, *chunks: str | tuple[str, str]) -> tuple[str, dict]:
    """Hand ``chunks`` (lines joined by ``\\n``, as read from a pipe; ``(text, "stderr")`` for stderr's) to the
    engine's log store on its loop."""
    cid = container_id(pod, container)
    meta = fluent_bit_kubernetes(
        pod_name=pod, namespace=NAMESPACE, pod_id=POD_UID, host=NODE, container_name=container,
        container_id=cid, container_image=IMAGE, labels=LABELS,
    )  # fmt: skip
    stream = log_stream_name(NODE, pod, NAMESPACE, container, cid)

    async def hand_over() -> None:
        for chunk in chunks:
            text, source = (chunk, "stdout") if isinstance(chunk, str) else chunk
            engine.engine.logs.append(pod, container, text, source=source, group=LOG_GROUP, stream=stream, kubernetes=meta)
        engine.engine.logs.flush()

    asyncio.run_coroutine_threadsafe(hand_over(), engine.engine._task.get_loop()).result(timeout=30)
    return stream, meta


def _events(engine: LocalEngine, stream: str) -> list[dict]:
    logs = aws_client("logs", engine.url)
    return logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True)["events"]


def test_each_event_is_the_record_fluent_bit_ships_on_the_container_insights_stream(engine):
    pod = "aws-batch.32d8f53f-29dc-31b4-9ce4-13504ccf74c1"
    stream, meta = _print(engine, pod, "application", "Hello World!\nsecond line")
    cid = container_id(pod, "application")
    assert re.fullmatch(r"[0-9a-f]{64}", cid) and cid == container_id(pod, "application") != container_id(pod, "x")
    assert stream == f"{NODE}-application.var.log.containers.{pod}_{NAMESPACE}_application-{cid}.log"
    events = _events(engine, stream)
    records = [json.loads(e["message"]) for e in events]
    assert [list(r) for r in records] == [["log", "stream", "time", "kubernetes"]] * 2
    assert [r["log"] for r in records] == ["Hello World!\n", "second line\n"]
    assert {r["stream"] for r in records} == {"stdout"}
    assert records[0]["kubernetes"] == {
        "pod_name": pod, "namespace_name": NAMESPACE, "pod_id": POD_UID, "labels": LABELS, "host": NODE,
        "container_name": "application", "docker_id": cid, "container_hash": IMAGE, "container_image": IMAGE,
    } == meta  # fmt: skip
    for event, record in zip(events, records):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", record["time"])
        stamp = datetime.strptime(record["time"][:23], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
        assert round(stamp.timestamp() * 1000) == event["timestamp"]


def test_a_line_too_long_for_one_record_is_split_into_records_of_at_most_256_kib(engine):
    line = ('say "hi"\t\\ é ' * 30_000)[:300_000]  # escapes make its record far longer than the line
    stream, _ = _print(engine, "aws-batch.long-line", "main", line + "\nafter")
    events = _events(engine, stream)
    sizes = [len(e["message"].encode()) for e in events]
    assert max(sizes) <= MAX_EVENT_BYTES and len(events) >= 3, sizes
    logs = [json.loads(e["message"])["log"] for e in events]
    assert "".join(logs[:-1]) == line + "\n" and logs[-1] == "after\n"
    assert [log.endswith("\n") for log in logs[:-1]] == [False] * (len(logs) - 2) + [True]


def test_filter_patterns_match_the_record_as_cloudwatch_stores_it(engine):
    stream, _ = _print(engine, "aws-batch.filtered", "main", "starting\nERROR disk full\nretrying\nERROR again")
    logs = aws_client("logs", engine.url)

    def logs_of(pattern: str) -> list[str]:
        events = logs.filter_log_events(logGroupName=LOG_GROUP, logStreamNames=[stream], filterPattern=pattern)["events"]
        return [json.loads(e["message"])["log"] for e in events]

    assert logs_of("ERROR") == ["ERROR disk full\n", "ERROR again\n"]
    assert logs_of('"disk full"') == ["ERROR disk full\n"]
    assert logs_of("?starting ?retrying") == ["starting\n", "retrying\n"]
    assert logs_of("aws-batch.filtered -ERROR") == ["starting\n", "retrying\n"]  # the pod name is in every record
    assert logs_of(POD_UID) == ["starting\n", "ERROR disk full\n", "retrying\n", "ERROR again\n"]
    assert logs_of("nowhere") == []


def test_a_line_written_to_stderr_is_a_stderr_record_on_the_containers_one_stream(engine):
    stream, _ = _print(engine, "aws-batch.both-streams", "main", "out", ("err\nerr2", "stderr"), "out2")
    records = [json.loads(e["message"]) for e in _events(engine, stream)]
    assert [(r["log"], r["stream"]) for r in records] == [
        ("out\n", "stdout"), ("err\n", "stderr"), ("err2\n", "stderr"), ("out2\n", "stdout")
    ]
    logs = aws_client("logs", engine.url)

    def filtered(pattern: str) -> list[str]:
        events = logs.filter_log_events(logGroupName=LOG_GROUP, logStreamNames=[stream], filterPattern=pattern)["events"]
        return [json.loads(e["message"])["log"] for e in events]

    assert filtered("stderr") == ["err\n", "err2\n"]  # the pattern matches the record, its stream too
    assert filtered("-stderr") == ["out\n", "out2\n"]


def test_the_provider_reads_the_records_back_whole_with_and_without_the_node(engine, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json(engine.url))
    pod, long_line = "aws-batch.provider-read", "x" * 600_000 + "é" * 1000
    _print(engine, pod, "main", "first\n" + long_line, "last")
    _print(engine, pod, "main-sidecar", "from the sidecar")
    hook = BatchEksPodHook()
    for node in (NODE, None):  # without the node name the hook finds the streams among the newest
        found = hook._cloudwatch_logs(PodRef(pod, NAMESPACE, CLUSTER, node, ("main", "main-sidecar")), ["main", "main-sidecar"])
        assert found.source == "cloudwatch"
        assert found.containers == {"main": ["first", long_line, "last"], "main-sidecar": ["from the sidecar"]}


def test_stored_bytes_count_the_records_and_the_records_survive_a_restart(engine):
    stream, meta = _print(engine, "aws-batch.restart", "main", "kept across a restart")
    logs = aws_client("logs", engine.url)
    messages = [e["message"] for p in logs.get_paginator("filter_log_events").paginate(logGroupName=LOG_GROUP) for e in p["events"]]
    (group,) = [g for g in logs.describe_log_groups()["logGroups"] if g["logGroupName"] == LOG_GROUP]
    assert group["storedBytes"] == sum(len(m.encode()) for m in messages)
    with LocalEngine(state_dir=engine.records_state_dir) as restarted:
        (record,) = [json.loads(e["message"]) for e in _events(restarted, stream)]
    assert record["log"] == "kept across a restart\n" and record["kubernetes"] == meta


def test_a_jobs_records_name_the_container_batch_and_kubernetes_report(engine, monkeypatch):
    """A real job end to end: its stream's id and its records' ``docker_id`` are the containerID that
    DescribeJobs (and the pod's status) report, and the provider reads its lines back."""
    from tests.support.blueprint import submit_command
    from tests.support.waits import wait_for_job

    batch = aws_client("batch", engine.url)
    job_id = submit_command(batch, "echo one; echo two", name="records")
    job = wait_for_job(batch, job_id)
    attempt = job["eksAttempts"][0]
    (container,) = attempt["containers"]
    scheme, _, cid = container["containerID"].partition("://")
    if scheme not in ("containerd", "docker") or not re.fullmatch(r"[0-9a-f]{64}", cid):
        pytest.skip(f"this runtime's containerID {container['containerID']!r} is not a container id: its "
                    "output is stored as plain lines on streams without the id")  # fmt: skip
    prefix = f"{attempt['nodeName']}-application.var.log.containers.{attempt['podName']}_{attempt['podNamespace']}_"
    logs = aws_client("logs", engine.url)
    (stream,) = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=prefix)["logStreams"]]
    assert stream == f"{prefix}{container['name']}-{cid}.log"
    records = [json.loads(e["message"]) for e in _events(engine, stream)]
    assert [r["log"] for r in records] == ["one\n", "two\n"]
    meta = records[0]["kubernetes"]
    assert (meta["pod_name"], meta["namespace_name"], meta["host"], meta["container_name"], meta["docker_id"]) == (
        attempt["podName"], attempt["podNamespace"], attempt["nodeName"], container["name"], cid
    )  # fmt: skip
    assert meta["labels"]["batch.amazonaws.com/job-id"] == job_id and meta["container_image"]
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json(engine.url))
    found = BatchEksPodHook()._cloudwatch_logs(
        PodRef(attempt["podName"], attempt["podNamespace"], CLUSTER, attempt["nodeName"], (container["name"],)), [container["name"]]
    )  # fmt: skip
    assert found.containers == {container["name"]: ["one", "two"]}
