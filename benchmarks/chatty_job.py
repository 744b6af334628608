"""The chatty job: one job printing ``LINES`` short lines (about 50 bytes each, 50 MB for 1 M lines).

Reports the engine's time from SubmitJob to SUCCEEDED, and to the moment the job's last line is written to
SQLite (what a CloudWatch reader then finds), against the same command run directly with its output into a
pipe that is read and thrown away; DescribeJobs latency (p50/p99) measured by a client in a child process
polling the engine all along, from SubmitJob until the output is written; the engine's RSS growth (the engine runs in this process, so this process's RSS); the
SQLite file's growth against the bytes the job printed; and a line of 1 MiB stored as CloudWatch events of
at most 256 KiB.

``python -m benchmarks.chatty_job [--lines N]`` prints the figures as JSON; :func:`run` returns them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3

from batch_eks_provider.local import LocalEngine
from batch_eks_provider.local.store.fluent_bit import MAX_EVENT_BYTES
from batch_eks_provider.local.store.state import EngineConfig

from .common import rss_bytes
from .engine import CLUSTER_ARN, _percentile, _setup

__all__ = ["run", "chatty_command", "main"]

TARGET_RATIO = 3.0
TARGET_P99_MS = 250.0
TARGET_RSS_MIB = 100.0
TARGET_STORAGE_RATIO = 1.5


def chatty_command(lines: int) -> list[str]:
    """A command printing ``lines`` lines of 49 characters plus a newline (50 bytes each)."""
    script = (
        "import sys\n"
        f"n = {lines}\n"
        "w = sys.stdout.write\n"
        "for i in range(n):\n"
        "    w('line %010d of the chatty benchmark job ....\\n' % i)\n"
    )
    return [sys.executable, "-c", script]


def _direct_seconds(argv: list[str]) -> tuple[float, int]:
    """The command alone, its output read from a pipe and counted: (seconds, bytes printed)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    total = 0
    assert proc.stdout is not None
    while chunk := proc.stdout.read(1 << 20):
        total += len(chunk)
    proc.wait()
    return time.perf_counter() - start, total


def _db_bytes(state_dir: Path) -> int:
    return sum(p.stat().st_size for p in state_dir.glob("engine.sqlite3*"))


_POLLER = """
import sys, time, boto3
client = boto3.client("batch", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="bench",
                      aws_secret_access_key="bench")
client.describe_jobs(jobs=[sys.argv[2]])
print("ready", flush=True)
while sys.stdin.readline().strip() != "stop":
    start = time.perf_counter()
    client.describe_jobs(jobs=[sys.argv[2]])
    print((time.perf_counter() - start) * 1000, flush=True)
"""


class _DescribePoller:
    """DescribeJobs in a child process (so the GIL of the engine's process does not slow the client):
    one call per ``tick()``, its latency read back in ms."""

    def __init__(self, url: str, job_id: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _POLLER, url, job_id], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def tick(self) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("stop\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _poll_describe(poller: _DescribePoller, stop: threading.Event, out: list[float]) -> None:
    while not stop.is_set():
        out.append(poller.tick())
        stop.wait(0.02)


def _wait_status(batch, job_id: str, statuses: set[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"]
        if status in statuses:
            return status
        time.sleep(0.1)  # not faster: this client shares the engine's process (and GIL)
    raise TimeoutError(f"job {job_id} not in {sorted(statuses)} within {timeout} s")


def _wait_written(engine, timeout: float) -> None:
    """Until every line printed is in SQLite (read in-process: a Logs API call would wait on the writer)."""
    if not hasattr(engine.logs, "backlog_bytes"):  # an engine before the backlog was counted (a baseline run)
        engine.store.sync_logs()
        return
    deadline = time.monotonic() + timeout
    while engine.logs.backlog_bytes > 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"output not written within {timeout} s")
        time.sleep(0.05)


class _LoopLag:
    """How late the engine's event loop runs a 10 ms timer, sampled all along: what blocks the loop
    (rather than what the machine's other load does to a client) shows here."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.lags: list[float] = []
        self._stop = False
        self._future = asyncio.run_coroutine_threadsafe(self._probe(), loop)

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop:
            due = loop.time() + 0.01
            await asyncio.sleep(0.01)
            self.lags.append((loop.time() - due) * 1000)

    def stop(self) -> list[float]:
        self._stop = True
        self._future.result(timeout=10)
        return self.lags


def _register(batch, name: str, argv: list[str]) -> None:
    batch.register_job_definition(
        jobDefinitionName=name,
        type="container",
        eksProperties={"podProperties": {"containers": [
            {"name": "main", "image": "python", "command": argv, "resources": {"limits": {"cpu": "1", "memory": "512Mi"}}}
        ]}},
    )  # fmt: skip


def run(lines: int = 1_000_000, timeout: float = 600.0) -> dict[str, Any]:
    argv = chatty_command(lines)
    direct_s, printed = _direct_seconds(argv)
    with tempfile.TemporaryDirectory(prefix="bench-chatty-") as tmp:
        state_dir = Path(tmp) / "state"
        config = EngineConfig(node_startup_seconds=0.0, node_idle_seconds=60.0)
        with LocalEngine(state_dir=state_dir, config=config) as local:
            batch = boto3.client("batch", endpoint_url=local.url, region_name="us-east-1",
                                 aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip
            _setup(batch, "chatty-ce", "chatty-q", max_vcpus=4, min_vcpus=4, instance_type="m5.xlarge")
            _register(batch, "chatty", argv)
            _register(batch, "warm", ["true"])
            warm = batch.submit_job(jobName="warm", jobQueue="chatty-q", jobDefinition="warm")["jobId"]
            _wait_status(batch, warm, {"SUCCEEDED", "FAILED"}, 60)
            db_before, rss_before = _db_bytes(state_dir), rss_bytes()
            describer = _DescribePoller(local.url, warm)  # started (boto3 imported) before the job
            lag = _LoopLag(local.engine._task.get_loop())  # the scheduler's task runs on the engine's loop
            started = time.perf_counter()
            job_id = batch.submit_job(jobName="chatty", jobQueue="chatty-q", jobDefinition="chatty")["jobId"]
            latencies: list[float] = []
            stop = threading.Event()
            poller = threading.Thread(target=_poll_describe, args=(describer, stop, latencies), daemon=True)
            poller.start()
            status = _wait_status(batch, job_id, {"SUCCEEDED", "FAILED"}, timeout)
            engine_s = time.perf_counter() - started
            _wait_written(local.engine, timeout)
            stored_s = time.perf_counter() - started
            stop.set()
            lags = lag.stop()
            poller.join()
            describer.close()
            local.engine.logs.flush()
            local.engine.store.sync_logs()  # every event written before the file is measured
            rss_after, db_after = rss_bytes(), _db_bytes(state_dir)
            logs = boto3.client("logs", endpoint_url=local.url, region_name="us-east-1",
                                aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip
            group = "/aws/containerinsights/" + CLUSTER_ARN.rsplit("/", 1)[-1] + "/application"
            streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
            stored = sum(s.get("storedBytes", 0) for s in streams)
    return {
        "lines": lines,
        "printed_bytes": printed,
        "status": status,
        "direct_seconds": round(direct_s, 3),
        "engine_seconds": round(engine_s, 3),
        "engine_over_direct": round(engine_s / direct_s, 2),
        "output_written_seconds": round(stored_s, 3),
        "written_over_direct": round(stored_s / direct_s, 2),
        "describe_jobs_ms": {"n": len(latencies), "p50": round(_percentile(latencies, 50), 1) if latencies else None,
                             "p99": round(_percentile(latencies, 99), 1) if latencies else None,
                             "max": round(max(latencies), 1) if latencies else None},  # fmt: skip
        "loop_lag_ms": {"n": len(lags), "p50": round(_percentile(lags, 50), 1) if lags else None,
                        "p99": round(_percentile(lags, 99), 1) if lags else None,
                        "max": round(max(lags), 1) if lags else None},  # fmt: skip
        "rss_growth_mib": round((rss_after - rss_before) / 2**20, 1),
        "sqlite_growth_bytes": db_after - db_before,
        "storage_over_output": round((db_after - db_before) / printed, 2),
        "stored_streams_reported": len(streams),
        "stored_bytes_reported": stored,
        "max_event_bytes": MAX_EVENT_BYTES,
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows for ``benchmarks.run``'s table (metric, n, peer, ours, target, unit, note)."""
    n = result["lines"]
    lat = result["describe_jobs_ms"]
    return [
        {"metric": "chatty job: SubmitJob to SUCCEEDED vs the command alone", "n": n, "peer": result["direct_seconds"],
         "ours": result["engine_seconds"], "target": f"engine/direct <= {TARGET_RATIO:g} (ratio >= {1 / TARGET_RATIO:.2f})",
         "unit": "s", "note": f"{result['printed_bytes']:,} bytes printed; peer = the same command, output read from a pipe"},
        {"metric": "chatty job: SubmitJob to its last line written vs the command alone", "n": n,
         "peer": result["direct_seconds"], "ours": result["output_written_seconds"],
         "target": f"engine/direct <= {TARGET_RATIO:g} (ratio >= {1 / TARGET_RATIO:.2f})", "unit": "s",
         "note": "until every line is in SQLite, where GetLogEvents reads it"},
        {"metric": "chatty job: DescribeJobs p99 while it prints", "n": lat["n"], "peer": None, "ours": lat["p99"],
         "target": f"< {TARGET_P99_MS:g} ms", "unit": "ms", "note": f"p50 {lat['p50']} ms, max {lat['max']} ms"},
        {"metric": "chatty job: event loop lag p99 while it prints", "n": result["loop_lag_ms"]["n"], "peer": None,
         "ours": result["loop_lag_ms"]["p99"], "target": "report", "unit": "ms",
         "note": f"how late a 10 ms timer fires on the engine's loop; max {result['loop_lag_ms']['max']} ms"},
        {"metric": "chatty job: engine RSS growth", "n": n, "peer": None, "ours": result["rss_growth_mib"],
         "target": f"< {TARGET_RSS_MIB:g} MiB", "unit": "MiB", "note": None},
        {"metric": "chatty job: SQLite growth / bytes printed", "n": n, "peer": None, "ours": result["storage_over_output"],
         "target": f"< {TARGET_STORAGE_RATIO:g}", "unit": "x", "note": f"{result['sqlite_growth_bytes']:,} bytes"},
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.lines), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
