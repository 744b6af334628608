"""Container output while the log writer is behind: the engine stops reading the container's pipes (stdout
and stderr alike) instead of blocking its event loop or holding the output in memory, and keeps every line,
with the stream it was written to, once the writer catches up. The writer is held back as a slow disk would:
another SQLite connection holds the write lock."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys

import pytest

from batch_eks_provider.local.clock import ManualClock
from batch_eks_provider.local.runtime.local_process import spawn
from batch_eks_provider.local.store.logs import ContainerLines, LogStore, output_backpressure
from batch_eks_provider.local.store.sqlite import Store

GROUP = "/aws/containerinsights/test-cluster/application"
LINES = 100_000  # 50 bytes each: 5 MB, far more than the pipe (1 MiB) and the backlog allowed (256 KiB)
LINE = "line %010d of the backpressure test ...............\n"


async def _until(condition, what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def _chatty_job_with_a_stuck_writer(tmp_path, output: str) -> tuple[list[tuple[str, str]], dict]:
    store = Store(tmp_path)
    logs = LogStore(store, ManualClock(start=1_700_000_000.0), backlog_bytes=(256 * 1024, 64 * 1024))
    lock = sqlite3.connect(store.path, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the writer cannot commit until this ends
    script = f"import sys\nw = sys.{output}.write\nfor i in range({LINES}):\n    w({LINE!r} % i)\n"
    printed = lambda text, source: logs.append("pod-a", "main", text, source=source, group=GROUP, stream="s-a")  # noqa: E731
    proc = await spawn([sys.executable, "-c", script], {"PATH": os.environ["PATH"]}, str(tmp_path), printed)
    gate = output_backpressure(asyncio.get_running_loop())
    await _until(lambda: gate.behind, "the reader to be held back")
    # the loop runs (this coroutine does), the job cannot end: most of its output is still unread
    seen = {"read_bytes_while_held": logs._bytes[("pod-a", "main")], "running_while_held": proc.returncode is None}
    lock.execute("COMMIT")
    lock.close()
    seen["exit_code"] = await asyncio.wait_for(proc.wait(), timeout=120)
    logs.flush()
    store.sync_logs()
    seen["gate_released"] = not gate.behind
    events = [(line, chunk[7]) for chunk in store.stream_chunks(GROUP, "s-a") for line in chunk[5].split("\n")]
    store.close()
    return events, seen


@pytest.mark.parametrize("output", ["stdout", "stderr"])
def test_a_stuck_log_writer_pauses_the_reader_not_the_loop_and_every_line_arrives(tmp_path, output):
    events, seen = asyncio.run(_chatty_job_with_a_stuck_writer(tmp_path, output))
    assert seen["running_while_held"] and seen["read_bytes_while_held"] < LINES * 50 // 2
    assert seen["exit_code"] == 0 and seen["gate_released"]
    assert events == [((LINE % i).rstrip("\n"), output) for i in range(LINES)]


def test_container_lines_keep_the_last_lines_and_read_like_a_list():
    lines = ContainerLines()
    lines.add(1.0, ["a", "b", "c"])
    lines.add(2.0, ["d", "e"], "stderr")
    assert [(x.timestamp, x.message) for x in lines] == [(1.0, "a"), (1.0, "b"), (1.0, "c"), (2.0, "d"), (2.0, "e")]
    assert (len(lines), lines[3].message, lines[-1].message, [x.message for x in lines[1:4]]) == (5, "d", "e", ["b", "c", "d"])
    assert [x.source for x in lines] == ["stdout"] * 3 + ["stderr"] * 2
    lines.keep_last(3)
    assert [x.message for x in lines] == ["c", "d", "e"] and lines[0].timestamp == 1.0
    assert [(x.message, x.source) for x in lines] == [("c", "stdout"), ("d", "stderr"), ("e", "stderr")]


async def _chatty_job_without_pidfd(tmp_path) -> tuple[int, list[str]]:
    received: list[str] = []
    script = f"import sys\nw = sys.stdout.write\nfor i in range({LINES}):\n    w({LINE!r} % i)\nw('no newline at the end')\n"
    proc = await spawn([sys.executable, "-c", script], {"PATH": os.environ["PATH"]}, str(tmp_path), lambda text, _source: received.append(text))
    code = await asyncio.wait_for(proc.wait(), timeout=120)
    return code, "\n".join(received).split("\n")


def test_without_pidfd_a_chatty_job_ends_and_every_line_arrives(tmp_path, monkeypatch):
    """Where ``os.pidfd_open`` is missing the process is run through asyncio's subprocess support: its output
    is read while it runs (not after its exit: 5 MB would fill the pipe, and it would never exit)."""
    import batch_eks_provider.local.runtime.local_process as local_process

    monkeypatch.setattr(local_process, "_USE_PIDFD", False)
    code, lines = asyncio.run(_chatty_job_without_pidfd(tmp_path))
    assert code == 0
    assert lines == [(LINE % i).rstrip("\n") for i in range(LINES)] + ["no newline at the end"]


async def _job_on_both_streams(tmp_path) -> tuple[int, dict[str, list[str]]]:
    """A job writing lines to stdout and stderr in turn (far more than either pipe holds), each stream ending
    without a newline; what the reader hands on, by the stream it says."""
    received: dict[str, list[str]] = {"stdout": [], "stderr": []}
    script = (
        f"import sys\nfor i in range({LINES // 10}):\n    (sys.stderr if i % 2 else sys.stdout).write({LINE!r} % i)\n"
        "sys.stdout.write('stdout without a newline'); sys.stderr.write('stderr without a newline')\n"
    )
    on_line = lambda text, source: received[source].append(text)  # noqa: E731
    proc = await spawn([sys.executable, "-c", script], {"PATH": os.environ["PATH"]}, str(tmp_path), on_line)
    code = await asyncio.wait_for(proc.wait(), timeout=120)
    return code, {source: "\n".join(texts).split("\n") for source, texts in received.items()}


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "without-pidfd"])
def test_stdout_and_stderr_are_read_apart_and_every_line_of_each_arrives(tmp_path, monkeypatch, pidfd):
    import batch_eks_provider.local.runtime.local_process as local_process

    if pidfd and not local_process._USE_PIDFD:
        pytest.skip("os.pidfd_open is missing or refused here")
    monkeypatch.setattr(local_process, "_USE_PIDFD", pidfd)
    code, by_stream = asyncio.run(_job_on_both_streams(tmp_path))
    assert code == 0
    lines = [(LINE % i).rstrip("\n") for i in range(LINES // 10)]
    assert by_stream["stdout"] == lines[0::2] + ["stdout without a newline"]
    assert by_stream["stderr"] == lines[1::2] + ["stderr without a newline"]
