"""Log load: a chatty job's output arrives whole in CloudWatch Logs, stored compactly, and the caps hold.

Short run (``make test``): 50,000 lines; ``make soak`` (SOAK=1): 1,000,000 lines (about 50 MB). Only
invariants are asserted (every line kept in order, storage per byte printed, the caps and their marker);
the timings and latencies are the benchmark's (``benchmarks/chatty_job.py``, ``make bench``).
"""

from __future__ import annotations

import re
import sys

import pytest

from batch_eks_provider.hooks.pod_logs import fluent_bit_message

from batch_eks_provider.local import LocalEngine
from batch_eks_provider.local.store.state import EngineConfig
from tests.support.waits import wait_for_job
from tests.reliability.conftest import scaled
from tests.support.aws import aws_client
from tests.support.blueprint import LOG_GROUP, submit_command

LINE_BYTES = 50  # 49 characters and a newline
STORAGE_RATIO_MAX = 1.5


def _chatty_script(lines: int) -> str:
    program = f"import sys\nw = sys.stdout.write\nfor i in range({lines}):\n    w('line %010d of the chatty reliability job ...\\n' % i)\n"
    return f"{sys.executable} -c \"{program}\""


def _stream(logs, attempt: dict) -> str:
    """The attempt's one log stream, found as Container Insights names it (``..._application-<id>.log``; the
    engine's names without the id are taken too)."""
    prefix = f"{attempt['nodeName']}-application.var.log.containers.{attempt['podName']}_{attempt['podNamespace']}_application"
    names = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=prefix)["logStreams"]]
    assert len(names) == 1 and re.fullmatch(re.escape(prefix) + r"(-[0-9a-f]{64})?\.log", names[0]), names
    return names[0]


def _all_events(logs, stream: str, page_limit: int) -> list[str]:
    """Every event of a stream, read forward with GetLogEvents' tokens until the token repeats."""
    messages: list[str] = []
    token = None
    for _ in range(page_limit):
        kwargs = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, limit=10000, **kwargs)
        messages += [fluent_bit_message(e["message"]) for e in page["events"]]  # the line, record or not
        if page["nextForwardToken"] == token:
            return messages
        token = page["nextForwardToken"]
    raise AssertionError(f"GetLogEvents did not reach the end of {stream} in {page_limit} pages")


def _db_bytes(state_dir) -> int:
    return sum(p.stat().st_size for p in state_dir.glob("engine.sqlite3*"))


def test_a_chatty_job_is_kept_whole_and_compact(tmp_path, reliability_report):
    lines = scaled(50_000, 1_000_000)
    with LocalEngine(blueprint="data-on-eks", state_dir=tmp_path) as engine:
        batch, logs = aws_client("batch", engine.url), aws_client("logs", engine.url)
        before = _db_bytes(tmp_path)
        job = wait_for_job(batch, submit_command(batch, _chatty_script(lines), name="chatty"), timeout=600)
        assert job["status"] == "SUCCEEDED", job.get("statusReason")
        stream = _stream(logs, job["eksAttempts"][0])
        messages = _all_events(logs, stream, page_limit=lines // 10000 + 3)
        assert len(messages) == lines
        assert messages[0] == "line 0000000000 of the chatty reliability job ..."
        assert messages[-1] == f"line {lines - 1:010d} of the chatty reliability job ..."
        assert all(m.startswith("line ") for m in messages[:: max(1, lines // 1000)])
        filtered = logs.filter_log_events(logGroupName=LOG_GROUP, filterPattern=f'"line {lines // 2:010d}"')["events"]
        assert [fluent_bit_message(e["message"])[:15] for e in filtered] == [f"line {lines // 2:010d}"]
        engine.engine.store.sync_logs()
        ratio = (_db_bytes(tmp_path) - before) / (lines * LINE_BYTES)
    assert ratio < STORAGE_RATIO_MAX, f"SQLite grew {ratio:.2f}x the bytes printed"
    reliability_report(f"log load: {lines:,} lines ({lines * LINE_BYTES:,} bytes) kept whole, SQLite {ratio:.2f}x the output")


@pytest.mark.parametrize("which", ["per-container", "total"])
def test_output_over_a_cap_is_dropped_after_one_marker(tmp_path, which, reliability_report):
    cap = 200_000
    lines = scaled(20_000, 200_000)  # 1 MB (short) or 10 MB: well past the cap
    config = EngineConfig(log_bytes_per_container=cap if which == "per-container" else 10**9,
                          log_bytes_total=cap if which == "total" else 10**9)  # fmt: skip
    with LocalEngine(blueprint="data-on-eks", state_dir=tmp_path, config=config) as engine:
        batch, logs = aws_client("batch", engine.url), aws_client("logs", engine.url)
        job = wait_for_job(batch, submit_command(batch, _chatty_script(lines), name="capped"), timeout=300)
        assert job["status"] == "SUCCEEDED", job.get("statusReason")
        messages = _all_events(logs, _stream(logs, job["eksAttempts"][0]), page_limit=lines // 10000 + 3)
        kept_bytes = sum(len(m) for m in messages[:-1])  # the bytes printed and kept, as the cap counts them
        assert messages[-1] == f"[batch-eks local] log output over {cap} bytes (" + (
            "the per-container log limit" if which == "per-container" else "the engine's total log limit"
        ) + ") dropped for this container"
        assert cap - 2 * LINE_BYTES < kept_bytes <= cap
        assert messages[:-1] == [f"line {i:010d} of the chatty reliability job ..." for i in range(len(messages) - 1)]
        if which == "total":  # the next job's output is dropped at once, with its marker
            second = wait_for_job(batch, submit_command(batch, "echo " + "x" * 200, name="after-cap"), timeout=60)
            assert _all_events(logs, _stream(logs, second["eksAttempts"][0]), page_limit=3)[-1].startswith(
                "[batch-eks local] log output over"
            )
    reliability_report(f"log cap ({which}): {lines:,} lines printed, {kept_bytes:,} bytes kept under a {cap:,}-byte cap, one marker")
