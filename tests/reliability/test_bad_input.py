"""Bad input: rejected by the operator before any API call, and by the engine with AWS-style errors.

The operator part runs each bad value of the table through ``BatchEksSubmitJobOperator.execute()``: each
must raise ``BatchEksInvalidInputError`` naming the field, and the engine must never see a SubmitJob.
The engine part sends malformed and oversized raw HTTP requests: each must get an AWS-style error
(status 4xx, ``x-amzn-ErrorType``, ``{"__type", "message"}``) and the engine must keep serving.
"""

from __future__ import annotations

import inspect
import json
import socket
from dataclasses import dataclass, field
from typing import Any


from batch_eks_provider.exceptions import BatchEksInvalidInputError

from .conftest import SOAK, request_count

GOOD = {"job_name": "bad-input", "job_queue": "doeks-JQ1_OD", "job_definition": "doeks-hello-world"}

# (field, bad value); rows whose field the operator does not take are skipped (and said so)
BAD_INPUTS: list[tuple[str, Any]] = [
    ("cpu", "500m"),
    ("cpu", "0.3"),
    ("cpu", "two"),
    ("memory", "2G"),
    ("memory", "2Mi"),
    ("memory", 2048),
    ("gpus", -1),
    ("job_name", "bad name!"),
    ("job_name", "x" * 129),
    ("job_queue", ""),
    ("job_definition", ""),
    ("env", {"AWS_BATCH_JOB_ID": "mine"}),
    ("timeout", 30),
    ("array_size", 1),
    ("array_size", 10_001),
    ("depends_on", [f"job-{i}" for i in range(21)]),
    ("retry_strategy", {"attempts": 11}),
    ("retry_strategy", {"attempts": 2, "evaluateOnExit": [{"action": "RETRY", "onStatusReason": "Host*EC2"}]}),
    ("tags", {"aws:reserved": "x"}),
    ("scheduling_priority", 10_000),
]


@dataclass
class _TaskInstance:
    dag_id: str = "reliability_bad_input"
    task_id: str = "submit"
    run_id: str = "manual__bad_input"
    map_index: int = -1
    try_number: int = 1
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcom[key] = value


def test_bad_operator_input_is_rejected_before_any_submit(aws_default, monkeypatch, reliability_report):
    from airflow.sdk.bases.operator import ExecutorSafeguard

    from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator

    monkeypatch.setattr(ExecutorSafeguard, "test_mode", True)  # execute() called directly, as a worker would
    accepted = set(inspect.signature(BatchEksSubmitJobOperator.__init__).parameters)
    table, skipped, not_rejected = [], [], []
    for index, (name, value) in enumerate(BAD_INPUTS):
        if name not in accepted:
            skipped.append(name)
            continue
        operator = BatchEksSubmitJobOperator(task_id=f"bad_{index}", **{**GOOD, name: value})
        ti = _TaskInstance(task_id=f"bad_{index}")
        try:
            operator.execute({"ti": ti, "task_instance": ti, "run_id": ti.run_id})
        except BatchEksInvalidInputError as error:
            table.append((name, value, str(error)))
            if name.split(".")[0] not in str(error):
                not_rejected.append((name, value, f"message does not name the field: {error}"))
        except Exception as error:  # noqa: BLE001 - anything else is a failure of this test
            not_rejected.append((name, value, f"{type(error).__name__}: {error}"))
        else:
            not_rejected.append((name, value, "accepted"))
    submits = request_count(aws_default.url, "SubmitJob")
    print("\nrejected inputs:")
    for name, value, message in table:
        print(f"  {name} = {value!r:.40}: {message.splitlines()[0]:.140}")
    reliability_report(
        f"bad input: {len(table)}/{len(BAD_INPUTS) - len(skipped)} bad operator inputs rejected with BatchEksInvalidInputError, "
        f"{submits} SubmitJob reached the engine"
        + (f" (fields the operator does not take yet, skipped: {sorted(set(skipped))})" if skipped else "")
    )
    assert not not_rejected, not_rejected
    assert submits == 0


def _raw(url: str, path: str, body: bytes) -> tuple[int, dict[str, str], dict]:
    """One POST over a plain socket. An engine may answer an oversized body before reading it and close:
    the client then sees a broken pipe while sending, and must still be able to read the error."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        try:
            sock.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered early; the answer is waiting in the socket
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    raw = b"".join(chunks)
    header_block, _, payload = raw.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        payload = _unchunk(payload)
    try:
        parsed = json.loads(payload)
    except ValueError:
        parsed = {"unparsed": payload[:200].decode("utf-8", "replace")}
    return status, headers, parsed


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + rest[:size], rest[size + 2 :]
    return out


def test_malformed_and_oversized_requests_get_aws_errors_and_the_engine_keeps_serving(engine, batch, reliability_report):
    oversized_mib = 16 if SOAK else 2
    cases = [
        ("malformed JSON", "/v1/submitjob", b"{not json"),
        ("truncated JSON", "/v1/describejobs", b'{"jobs": ["a"'),
        ("not an object", "/v1/submitjob", b"[1, 2, 3]"),
        ("invalid UTF-8", "/v1/submitjob", b"\xff\xfe{}"),
        ("wrong member type", "/v1/submitjob", json.dumps({"jobName": 5, "jobQueue": "doeks-JQ1_OD", "jobDefinition": "doeks-hello-world"}).encode()),
        ("missing required member", "/v1/describejobs", b"{}"),
        ("unknown operation", "/v1/nosuchoperation", b"{}"),
        (f"oversized body ({oversized_mib} MiB)", "/v1/submitjob", b'{"jobName": "' + b"x" * (oversized_mib * 2**20) + b'"}'),
    ]
    results = []
    for what, path, body in cases:
        status, headers, payload = _raw(engine.url, path, body)
        error_type = headers.get("x-amzn-errortype")
        results.append((what, status, error_type, payload.get("__type"), payload.get("message", "")))
    job_id = batch.submit_job(jobName="after-bad-requests", jobQueue="doeks-JQ1_OD", jobDefinition="doeks-hello-world")["jobId"]
    described = batch.describe_jobs(jobs=[job_id])["jobs"]
    print("\nraw requests:")
    for what, status, error_type, type_, message in results:
        print(f"  {what}: {status} {error_type} {type_}: {message[:120]}")
    good = [r for r in results if 400 <= r[1] < 500 and r[2] and r[2] == r[3] and r[4]]
    reliability_report(
        f"bad requests: {len(good)}/{len(cases)} malformed or oversized raw requests got AWS-style 4xx errors "
        f"(x-amzn-ErrorType + __type); engine still serving: SubmitJob and DescribeJobs afterwards "
        f"{'worked' if described and described[0]['jobId'] == job_id else 'FAILED'}"
    )
    assert len(good) == len(cases), [r for r in results if r not in good]
    assert described and described[0]["jobId"] == job_id
