"""CloudWatch Logs on the engine: the container output of finished jobs, read with boto3 and the AWS CLI."""

from __future__ import annotations

import base64
import json
import re

import pytest

from batch_eks_provider.hooks.pod_logs import fluent_bit_message
from batch_eks_provider.local import LocalEngine
from tests.support.waits import wait_for_job
from tests.support.aws import assert_output_shape, aws_cli, aws_client, raw_aws
from tests.support.blueprint import LOG_GROUP, submit_command

ALPHA = ["alpha-1", "alpha-2", "ERROR alpha-3", "alpha-4", "alpha-5"]
BETA = ["beta-1", "ERROR beta-2", "beta-3"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One engine, two finished jobs (alpha, then beta); yields (engine, logs client, {name: attempt})."""
    state_dir = tmp_path_factory.mktemp("logs-engine")
    with LocalEngine(blueprint="data-on-eks", state_dir=state_dir) as engine:
        batch = aws_client("batch", engine.url)
        attempts = {}
        for name, lines in (("alpha", ALPHA), ("beta", BETA)):
            script = "; ".join(f"echo '{line}'" for line in lines)
            attempts[name] = wait_for_job(batch, submit_command(batch, script, name=name))["eksAttempts"][0]
        yield engine, aws_client("logs", engine.url), attempts, state_dir


def _stream(attempt: dict) -> str:
    """The stream of the attempt's container as a user names it from DescribeJobs: Container Insights'
    ``..._<container>-<id>.log`` with the id of the container's ``containerID`` (a name without the id when
    the runtime's ids are not 64-hex container ids)."""
    (container,) = attempt["containers"]
    cid = container.get("containerID", "").partition("://")[2]
    suffix = f"-{cid}" if re.fullmatch(r"[0-9a-f]{64}", cid) else ""
    return (
        f"{attempt['nodeName']}-application.var.log.containers.{attempt['podName']}_"
        f"{attempt['podNamespace']}_{container['name']}{suffix}.log"
    )


def _wire(engine, operation: str, body: dict | None = None) -> tuple[int, dict]:
    """One CloudWatch Logs call as it goes over the wire (JSON 1.1, ``Logs_20140328.<operation>``)."""
    return raw_aws(engine.url, "POST", "/", target=f"Logs_20140328.{operation}", body=body)


def _line(event: dict) -> str:
    """What the container printed, as the provider reads it from an event (a Fluent Bit record or a line)."""
    return fluent_bit_message(event["message"])


def test_describe_log_groups(finished):
    engine, logs, _, _ = finished
    groups = logs.describe_log_groups()["logGroups"]
    assert [g["logGroupName"] for g in groups] == [LOG_GROUP]
    events = [e for p in logs.get_paginator("filter_log_events").paginate(logGroupName=LOG_GROUP) for e in p["events"]]
    assert [_line(e) for e in events] == ALPHA + BETA
    assert groups[0]["storedBytes"] == sum(len(e["message"].encode()) for e in events)
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/containerinsights/doeks")["logGroups"] == groups
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/lambda")["logGroups"] == []
    status, body = _wire(engine, "DescribeLogGroups")
    assert status == 200
    assert_output_shape("logs", "DescribeLogGroups", body)


def test_describe_log_streams_names_order_and_pages(finished):
    engine, logs, attempts, _ = finished
    by_name = logs.describe_log_streams(logGroupName=LOG_GROUP)["logStreams"]
    assert [s["logStreamName"] for s in by_name] == sorted(
        [_stream(attempts["alpha"]), _stream(attempts["beta"])]
    )
    latest_first = logs.describe_log_streams(
        logGroupName=LOG_GROUP, orderBy="LastEventTime", descending=True
    )["logStreams"]
    assert [s["logStreamName"] for s in latest_first] == [
        _stream(attempts["beta"]),
        _stream(attempts["alpha"]),
    ]
    assert latest_first[0]["lastEventTimestamp"] >= latest_first[1]["lastEventTimestamp"]
    prefix = f"{attempts['alpha']['nodeName']}-application.var.log.containers.{attempts['alpha']['podName']}"
    assert [
        s["logStreamName"]
        for s in logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=prefix)["logStreams"]
    ] == [_stream(attempts["alpha"])]
    pages = list(
        logs.get_paginator("describe_log_streams").paginate(
            logGroupName=LOG_GROUP, PaginationConfig={"PageSize": 1}
        )
    )
    assert [len(p["logStreams"]) for p in pages] == [1, 1]
    with pytest.raises(logs.exceptions.InvalidParameterException, match="Cannot order by LastEventTime"):
        logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix="ip-", orderBy="LastEventTime")
    with pytest.raises(logs.exceptions.ResourceNotFoundException, match="log group does not exist"):
        logs.describe_log_streams(logGroupName="/aws/containerinsights/other/application")
    status, body = _wire(engine, "DescribeLogStreams", {"logGroupName": LOG_GROUP})
    assert_output_shape("logs", "DescribeLogStreams", body)


def test_get_log_events_from_the_head_and_from_the_tail(finished):
    engine, logs, attempts, _ = finished
    stream = _stream(attempts["alpha"])
    everything = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True)
    assert [_line(e) for e in everything["events"]] == ALPHA

    # forward pages of 2 until the same token comes back (how readers know they reached the end)
    seen, token, previous = [], None, None
    for _ in range(10):
        kwargs = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, limit=2, **kwargs)
        seen += [_line(e) for e in page["events"]]
        previous, token = token, page["nextForwardToken"]
        if token == previous:
            break
    assert seen == ALPHA and token == previous

    tail = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, limit=2)
    assert [_line(e) for e in tail["events"]] == ALPHA[-2:]
    before = logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=stream, limit=2, nextToken=tail["nextBackwardToken"]
    )
    assert [_line(e) for e in before["events"]] == ALPHA[1:3]

    with pytest.raises(logs.exceptions.ResourceNotFoundException, match="log stream does not exist"):
        logs.get_log_events(logGroupName=LOG_GROUP, logStreamName="nope")
    status, body = _wire(engine, "GetLogEvents", {"logGroupName": LOG_GROUP, "logStreamName": stream})
    assert status == 200
    assert_output_shape("logs", "GetLogEvents", body)


def _messages(response) -> list[str]:
    return [_line(e) for e in response["events"]]


def test_filter_log_events_patterns_streams_and_times(finished):
    engine, logs, attempts, _ = finished
    assert _messages(logs.filter_log_events(logGroupName=LOG_GROUP)) == ALPHA + BETA
    assert _messages(logs.filter_log_events(logGroupName=LOG_GROUP, filterPattern="ERROR")) == [
        "ERROR alpha-3",
        "ERROR beta-2",
    ]
    assert _messages(logs.filter_log_events(logGroupName=LOG_GROUP, filterPattern='"ERROR beta"')) == [
        "ERROR beta-2"
    ]
    assert _messages(logs.filter_log_events(logGroupName=LOG_GROUP, filterPattern="beta -ERROR")) == [
        "beta-1",
        "beta-3",
    ]
    assert _messages(logs.filter_log_events(logGroupName=LOG_GROUP, filterPattern="?alpha-1 ?beta-3")) == [
        "alpha-1",
        "beta-3",
    ]
    assert (
        _messages(logs.filter_log_events(logGroupName=LOG_GROUP, filterPattern="error")) == []
    )  # case-sensitive
    only_beta = logs.filter_log_events(logGroupName=LOG_GROUP, logStreamNames=[_stream(attempts["beta"])])
    assert _messages(only_beta) == BETA
    assert {e["logStreamName"] for e in only_beta["events"]} == {_stream(attempts["beta"])}
    prefix = f"{attempts['alpha']['nodeName']}-application.var.log.containers.{attempts['alpha']['podName']}"
    assert _messages(logs.filter_log_events(logGroupName=LOG_GROUP, logStreamNamePrefix=prefix)) == ALPHA

    events = logs.filter_log_events(logGroupName=LOG_GROUP)["events"]
    middle = events[len(events) // 2]["timestamp"]
    assert _messages(logs.filter_log_events(logGroupName=LOG_GROUP, startTime=middle)) == [
        _line(e) for e in events if e["timestamp"] >= middle
    ]
    assert _messages(logs.filter_log_events(logGroupName=LOG_GROUP, endTime=middle)) == [
        _line(e) for e in events if e["timestamp"] <= middle
    ]

    pages = list(
        logs.get_paginator("filter_log_events").paginate(
            logGroupName=LOG_GROUP, PaginationConfig={"PageSize": 3}
        )
    )
    assert [len(p["events"]) for p in pages] == [3, 3, 2]
    assert [m for p in pages for m in _messages(p)] == ALPHA + BETA

    with pytest.raises(logs.exceptions.InvalidParameterException, match="mutually exclusive"):
        logs.filter_log_events(logGroupName=LOG_GROUP, logStreamNames=["a"], logStreamNamePrefix="a")
    with pytest.raises(logs.exceptions.InvalidParameterException, match="term patterns only"):
        logs.filter_log_events(logGroupName=LOG_GROUP, filterPattern='{ $.level = "ERROR" }')
    status, body = _wire(engine, "FilterLogEvents", {"logGroupName": LOG_GROUP, "limit": 2})
    assert status == 200 and body["nextToken"]
    assert_output_shape("logs", "FilterLogEvents", body)


def test_unknown_target_and_the_web_page_share_the_root_path(finished):
    engine, _, _, _ = finished
    status, body = _wire(engine, "PutLogEvents")
    assert status == 400 and body["__type"] == "UnknownOperationException"
    import urllib.request

    with urllib.request.urlopen(engine.url + "/", timeout=10) as response:
        assert response.headers["content-type"].startswith("text/html")


def test_aws_cli_filter_log_events(finished):
    engine, _, _, _ = finished
    out = aws_cli("logs", "filter-log-events", "--log-group-name", LOG_GROUP, "--filter-pattern", "ERROR",
                  "--endpoint-url", engine.url, "--output", "json")
    assert out.returncode == 0, out.stderr
    assert [_line(e) for e in json.loads(out.stdout)["events"]] == ["ERROR alpha-3", "ERROR beta-2"]


def test_logs_survive_an_engine_restart(finished):
    _, _, _, state_dir = finished
    with LocalEngine(state_dir=state_dir) as restarted:
        logs = aws_client("logs", restarted.url)
        assert _messages(logs.filter_log_events(logGroupName=LOG_GROUP)) == ALPHA + BETA


def _bad_inputs(group: str, stream: str) -> list[tuple[str, dict, str]]:
    """(operation, body, the field the 400 must name): the Logs inputs that once answered 500."""
    b64 = lambda text: base64.urlsafe_b64encode(text.encode()).decode()  # noqa: E731
    base = {"logGroupName": group, "logStreamName": stream}
    filt = {"logGroupName": group}
    return [
        ("GetLogEvents", {**base, "startTime": 2**63}, "startTime"),
        ("GetLogEvents", {**base, "endTime": 10**20}, "endTime"),
        ("GetLogEvents", {**base, "startTime": -1}, "startTime"),
        ("GetLogEvents", {**base, "limit": 10001}, "limit"),
        ("GetLogEvents", {**base, "limit": 2**40}, "limit"),
        ("FilterLogEvents", {**filt, "startTime": 2**63}, "startTime"),
        ("FilterLogEvents", {**filt, "endTime": 10**20}, "endTime"),
        ("FilterLogEvents", {**filt, "filterPattern": " ".join(f"t{i}" for i in range(40_000))}, "filterPattern"),
        ("GetLogEvents", {**base, "nextToken": "f/" + "9" * 40}, "nextToken"),
        ("GetLogEvents", {**base, "nextToken": "garbage"}, "nextToken"),
        ("FilterLogEvents", {**filt, "nextToken": b64('{"timestamp": 1.5, "rowid": "x"}')}, "nextToken"),
        ("FilterLogEvents", {**filt, "nextToken": b64('{"timestamp": 99999999999999999999999, "rowid": 1}')}, "nextToken"),
        ("FilterLogEvents", {**filt, "nextToken": b64("[" * 5000 + "]" * 5000)}, "nextToken"),
        ("FilterLogEvents", {**filt, "nextToken": "%%%not-base64"}, "nextToken"),
        ("DescribeLogStreams", {"logGroupName": group, "nextToken": b64('{"offset": "ten"}')}, "nextToken"),
        ("DescribeLogStreams", {"logGroupName": group, "nextToken": b64('{"offset": 1e400}')}, "nextToken"),
        ("DescribeLogGroups", {"nextToken": b64('{"offset": -5}')}, "nextToken"),
    ]


def test_bad_logs_inputs_answer_400_naming_the_field(finished):
    engine, _, attempts, _ = finished
    stream = _stream(attempts["alpha"])
    for operation, body, field in _bad_inputs(LOG_GROUP, stream):
        status, answer = _wire(engine, operation, body)
        assert status == 400, (operation, field, answer)
        assert answer["__type"].endswith("InvalidParameterException"), (operation, field, answer)
        assert field in answer["message"], (operation, field, answer)
    # the engine still answers, and the bounds themselves are accepted
    bounds = {"startTime": 0, "endTime": 2**63 - 1, "limit": 10000, "startFromHead": True}
    status, answer = _wire(engine, "GetLogEvents", {"logGroupName": LOG_GROUP, "logStreamName": stream, **bounds})
    assert status == 200 and [_line(e) for e in answer["events"]] == ALPHA


def test_a_line_over_256_kib_is_split_into_events_of_at_most_256_kib_less_26_bytes(finished):
    engine, logs, _, _ = finished
    batch = aws_client("batch", engine.url)
    script = "python3 -c \"import sys; sys.stdout.write('x' * 600000 + 'é' * 100000 + '\\\\n')\"; echo after"
    attempt = wait_for_job(batch, submit_command(batch, script, name="long-line"))["eksAttempts"][0]
    events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=_stream(attempt), startFromHead=True)["events"]
    sizes = [len(e["message"].encode()) for e in events]
    assert max(sizes[:-1]) <= 256 * 1024 - 26 and len(events) == 5, sizes
    assert "".join(_line(e) for e in events[:-1]) == "x" * 600000 + "é" * 100000
    assert _line(events[-1]) == "after"


def test_pages_cross_the_chunks_the_output_was_read_in(finished):
    """Output is stored in chunks (one per read of the pipe); pages forward, backward and filtered run
    across their boundaries without losing or repeating an event."""
    import asyncio

    engine, logs, _, _ = finished
    reads = ["\n".join(f"read{r}-line{i}" for i in range(5)) for r in range(3)]  # 3 chunks of 5 lines
    expected = [line for read in reads for line in read.split("\n")]
    stream = "ip-10-0-0-1.ec2.internal-application.var.log.containers.aws-batch.chunks_ns_main.log"
    group = "/aws/containerinsights/chunks/application"  # its own group: the other tests see only theirs

    async def hand_over() -> None:
        for read in reads:
            engine.engine.logs.append("aws-batch.chunks", "main", read, group=group, stream=stream)
            engine.engine.logs.flush()

    asyncio.run_coroutine_threadsafe(hand_over(), engine.engine._task.get_loop()).result(timeout=30)
    backward, token = [], None
    for _ in range(10):
        kwargs = {"nextToken": token} if token else {}
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=4, **kwargs)
        if not page["events"]:
            break
        backward[:0] = [_line(e) for e in page["events"]]
        token = page["nextBackwardToken"]
    assert backward == expected
    forward, token = [], None
    for _ in range(10):
        kwargs = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=4, **kwargs)
        forward += [_line(e) for e in page["events"]]
        if page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
    assert forward == expected
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, logStreamNames=[stream], filterPattern="-line2", PaginationConfig={"PageSize": 3}
    )
    assert [_line(e) for p in pages for e in p["events"]] == [line for line in expected if "line2" not in line]
