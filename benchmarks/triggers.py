"""Deferred waiting: N RUNNING jobs waited on by one triggerer, ours against the Amazon provider's.

For each N and each side the parent process (which serves the engine) submits N ``sleep 600`` jobs to a
compute environment big enough to run them all, waits until every one is RUNNING, then starts a child
process that plays the triggerer: it builds one trigger per job and runs every trigger's ``run()`` async
generator as a task on ONE asyncio event loop, as Airflow's triggerer does. The child measures itself:

- DescribeJobs calls per poll cycle: the engine's ``batch_eks_api_requests_total{operation="DescribeJobs"}``
  delta over the measured window divided by the number of poll intervals in it;
- CPU seconds per minute: ``time.process_time()`` over the window (the child only: the engine is elsewhere);
- resident memory per deferred job: ``VmRSS`` before the triggers exist vs once all of them poll, over N;
- firing delay: the parent terminates every job after the window; each job's ``stoppedAt`` (engine side)
  is compared with the wall time its trigger yielded its event.

Run one side by hand: ``python -m benchmarks.triggers --side peer -n 100``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import math
import os
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from .common import (
    batch_client,
    bench_engine,
    child_env,
    describe_all,
    percentile,
    request_counts,
    rss_bytes,
    submit_jobs,
    wait_until,
)

__all__ = ["SIDES", "measure_side", "run_trigger_benchmarks"]

SIDES = ("peer", "ours")
PEER_TRIGGER = "airflow.providers.amazon.aws.triggers.batch.BatchJobTrigger"
OURS_TRIGGER = "batch_eks_provider.triggers.batch.BatchEksJobTrigger"


class SideUnavailable(RuntimeError):
    """The trigger of one side cannot be built (not landed yet, or its dependencies are missing)."""


# ----------------------------------------------------------------------------------------------- child side


def _peer_factory(poll_interval: float) -> Callable[[str], Any]:
    from airflow.providers.amazon.aws.triggers.batch import BatchJobTrigger

    def build(job_id: str) -> Any:
        return BatchJobTrigger(job_id=job_id, waiter_delay=int(poll_interval), waiter_max_attempts=10_000, aws_conn_id="aws_default")

    return build


def _ours_factory(poll_interval: float) -> Callable[[str], Any]:
    try:
        from batch_eks_provider.triggers.batch import BatchEksJobTrigger
    except ImportError as e:
        raise SideUnavailable(f"{OURS_TRIGGER} is not importable: {e}") from None
    params = inspect.signature(BatchEksJobTrigger.__init__).parameters
    kwargs: dict[str, Any] = {}
    for name in ("poll_interval", "waiter_delay", "poll_interval_seconds"):
        if name in params:
            kwargs[name] = poll_interval
            break
    if "aws_conn_id" in params:
        kwargs["aws_conn_id"] = "aws_default"

    def build(job_id: str) -> Any:
        return BatchEksJobTrigger(job_id=job_id, **kwargs)

    return build


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


async def _triggerer(
    build: Callable[[str], Any],
    job_ids: list[str],
    engine_url: str,
    poll_interval: float,
    window: float,
    ramp_timeout: float,
    finish_timeout: float,
    expected_per_cycle: int,
) -> None:
    fired: dict[str, float] = {}
    statuses: dict[str, str] = {}
    errors: list[str] = []

    async def drive(trigger: Any, job_id: str) -> None:
        try:
            async for event in trigger.run():
                fired[job_id] = time.time()
                payload = getattr(event, "payload", {}) or {}
                statuses[job_id] = str(payload.get("status", "?")) if isinstance(payload, dict) else "?"
                return
        except Exception as e:  # noqa: BLE001 - a trigger that crashes is reported, not fatal to the benchmark
            if len(errors) < 5:
                errors.append(f"{type(e).__name__}: {e}")
            statuses[job_id] = "crashed"

    start_counts = await asyncio.to_thread(request_counts, engine_url)
    gc.collect()
    rss_before = rss_bytes()
    started = time.monotonic()
    triggers = [build(job_id) for job_id in job_ids]
    tasks = [asyncio.create_task(drive(t, j), name=f"trigger {j}") for t, j in zip(triggers, job_ids)]

    # Ramp: until the engine has answered at least one full cycle of DescribeJobs, then one more interval.
    ramp_complete = False
    while time.monotonic() - started < ramp_timeout:
        await asyncio.sleep(1.0)
        counts = await asyncio.to_thread(request_counts, engine_url)
        if counts.get("DescribeJobs", 0) - start_counts.get("DescribeJobs", 0) >= expected_per_cycle:
            ramp_complete = True
            break
    ramp_seconds = time.monotonic() - started
    await asyncio.sleep(poll_interval)
    rss_after = rss_bytes()

    window_counts_start = await asyncio.to_thread(request_counts, engine_url)
    _emit({"phase": "window_start"})
    cpu_start, wall_start = time.process_time(), time.monotonic()
    await asyncio.sleep(window)
    cpu_used, wall_used = time.process_time() - cpu_start, time.monotonic() - wall_start
    window_counts_end = await asyncio.to_thread(request_counts, engine_url)
    describe_calls = window_counts_end.get("DescribeJobs", 0) - window_counts_start.get("DescribeJobs", 0)
    premature = len(fired)
    _emit(
        {
            "phase": "measured",
            "ramp_seconds": round(ramp_seconds, 1),
            "ramp_complete": ramp_complete,
            "rss_before": rss_before,
            "rss_after": rss_after,
            "window_seconds": round(wall_used, 2),
            "cpu_seconds": round(cpu_used, 4),
            "describe_calls": describe_calls,
            "other_calls": {
                op: window_counts_end.get(op, 0) - window_counts_start.get(op, 0)
                for op in window_counts_end
                if op != "DescribeJobs" and window_counts_end.get(op, 0) != window_counts_start.get(op, 0)
            },
            "fired_before_finish": premature,
        }
    )
    # The parent now terminates every job; wait for the triggers to fire.
    done, pending = await asyncio.wait(tasks, timeout=finish_timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)
    for trigger in triggers:
        cleanup = getattr(trigger, "cleanup", None)
        if cleanup is not None:
            try:
                result = cleanup()
                if inspect.isawaitable(result):
                    await result
            except Exception:  # noqa: BLE001
                pass
    _emit({"phase": "finished", "fired": fired, "statuses": statuses, "errors": errors, "not_fired": len(pending)})


def child_main(args: argparse.Namespace) -> int:
    job_ids = json.loads(Path(args.job_ids_file).read_text())
    try:
        build = (_peer_factory if args.side == "peer" else _ours_factory)(args.poll_interval)
    except SideUnavailable as e:
        _emit({"phase": "unavailable", "reason": str(e)})
        return 0
    expected = len(job_ids) if args.side == "peer" else math.ceil(len(job_ids) / 100)
    asyncio.run(
        _triggerer(
            build, job_ids, args.engine_url, args.poll_interval, args.window, args.ramp_timeout, args.finish_timeout, expected
        )
    )
    return 0


# ---------------------------------------------------------------------------------------------- parent side


def _describe_count(engine_url: str) -> tuple[float, float]:
    return time.monotonic(), request_counts(engine_url).get("DescribeJobs", 0.0)


def _bursts(samples: list[tuple[float, float]], poll_interval: float) -> list[float]:
    """DescribeJobs calls grouped into poll cycles: increments closer than half an interval are one cycle.

    Only meaningful for a poller that makes its calls together each cycle (ours); the peer's triggers
    each poll on their own phase, so their calls never pause long enough to be told apart.
    """
    bursts: list[float] = []
    last_active: float | None = None
    for (t0, c0), (t1, c1) in zip(samples, samples[1:]):
        if c1 <= c0:
            continue
        if last_active is None or t1 - last_active > poll_interval / 2:
            bursts.append(0.0)
        bursts[-1] += c1 - c0
        last_active = t1
    return bursts[1:-1]  # the first and last may be cut by the window's edges


def _read_record(proc: subprocess.Popen, deadline: float, sample: Callable[[], Any] | None = None) -> dict[str, Any] | None:
    """The next JSON line the child prints, or None if it exits or the deadline passes.

    ``sample`` is called about every 0.25 s while waiting (the parent's view of the engine's counters).
    """
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    try:
        while time.monotonic() < deadline:
            if sample is not None:
                sample()
            if not selector.select(timeout=max(0.0, min(0.25 if sample else 1.0, deadline - time.monotonic()))):
                if proc.poll() is not None:
                    return None
                continue
            line = proc.stdout.readline()
            if not line:
                return None
            line = line.strip()
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    continue
        return None
    finally:
        selector.close()


def measure_side(
    engine: Any,
    side: str,
    n: int,
    poll_interval: float = 5.0,
    window: float = 30.0,
    ramp_timeout: float = 240.0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure one side at one N on ``engine`` (a running bench engine). Never raises for a slow machine."""
    client = batch_client(engine.url)
    result: dict[str, Any] = {"side": side, "n": n, "poll_interval": poll_interval}
    t0 = time.monotonic()
    job_ids = submit_jobs(client, n, f"trig-{side}-{n}")
    try:
        wait_until(
            lambda: sum(1 for j in describe_all(client, job_ids).values() if j["status"] == "RUNNING") == n,
            timeout=180,
            interval=1.0,
            what=f"{n} bench jobs to be RUNNING",
        )
    except TimeoutError as e:
        _terminate(client, job_ids)
        return {**result, "error": str(e)}
    log(f"  {side} N={n}: {n} jobs RUNNING after {time.monotonic() - t0:.0f}s; starting the triggerer")
    with tempfile.TemporaryDirectory(prefix="batch-eks-bench-trig-") as tmp:
        ids_file = Path(tmp) / "job_ids.json"
        ids_file.write_text(json.dumps(job_ids))
        stderr_path = Path(tmp) / "stderr.txt"
        finish_timeout = poll_interval * 4 + 30 + n * 0.02
        cmd = [
            sys.executable, "-m", "benchmarks.triggers", "--child", "--side", side, "--engine-url", engine.url,
            "--job-ids-file", str(ids_file), "--poll-interval", str(poll_interval), "--window", str(window),
            "--ramp-timeout", str(ramp_timeout), "--finish-timeout", str(finish_timeout),
        ]  # fmt: skip
        with open(stderr_path, "w") as stderr:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, text=True, env=child_env(engine.url, tmp))
            try:
                record = _read_record(proc, time.monotonic() + 60 + ramp_timeout + poll_interval + 30)
                samples: list[tuple[float, float]] = []
                if record is not None and record.get("phase") == "window_start":
                    record = _read_record(proc, time.monotonic() + window + 60, sample=lambda: samples.append(_describe_count(engine.url)))
                measured = record
                if measured is None or measured.get("phase") != "measured":
                    reason = measured["reason"] if measured else _tail(stderr_path) or "the triggerer child gave no result"
                    _terminate(client, job_ids)
                    return {**result, "error": reason}
                terminated_at = time.time()
                _terminate(client, job_ids, spread_seconds=2 * poll_interval)
                finished = _read_record(proc, time.monotonic() + finish_timeout + 30) or {}
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(timeout=30)
        stderr_tail = _tail(stderr_path)
    jobs = describe_all(client, job_ids)
    fired = finished.get("fired", {})
    delays = [fired[j] - jobs[j]["stoppedAt"] / 1000.0 for j in job_ids if j in fired and jobs.get(j, {}).get("stoppedAt")]
    cycles = measured["window_seconds"] / poll_interval
    bursts = _bursts(samples, poll_interval)
    result.update(
        {
            "ramp_seconds": measured["ramp_seconds"],
            "ramp_complete": measured["ramp_complete"],
            "window_seconds": measured["window_seconds"],
            "describe_calls_in_window": measured["describe_calls"],
            "describe_calls_per_interval": round(measured["describe_calls"] / cycles, 2) if cycles else None,
            "describe_calls_per_burst": percentile(bursts, 50) if len(bursts) >= 2 else None,
            "describe_bursts": bursts,
            "other_calls_in_window": measured["other_calls"],
            "cpu_seconds_per_minute": round(measured["cpu_seconds"] / measured["window_seconds"] * 60, 3),
            "rss_before_mib": round(measured["rss_before"] / 2**20, 1),
            "rss_after_mib": round(measured["rss_after"] / 2**20, 1),
            "rss_growth_kib": round((measured["rss_after"] - measured["rss_before"]) / 1024, 1),
            "rss_per_job_kib": round((measured["rss_after"] - measured["rss_before"]) / n / 1024, 2),
            "fired": len(fired),
            "fired_before_jobs_ended": measured["fired_before_finish"],
            "event_statuses": _count(finished.get("statuses", {}).values()),
            "fire_delay_p50_s": _round(percentile(delays, 50)),
            "fire_delay_p95_s": _round(percentile(delays, 95)),
            "fire_delay_max_s": _round(max(delays) if delays else None),
            "terminated_at": terminated_at,
            "trigger_errors": finished.get("errors", []),
        }
    )
    # Calls per poll cycle: the median burst when the calls come in distinct cycles (ours), else the rate
    # per poll interval (the peer's triggers each poll on their own phase).
    if result["describe_calls_per_burst"] is not None:
        result["describe_calls_per_cycle"], result["describe_calls_per_cycle_method"] = result["describe_calls_per_burst"], "median burst"
    else:
        result["describe_calls_per_cycle"], result["describe_calls_per_cycle_method"] = result["describe_calls_per_interval"], "per interval"
    if not finished:
        result["error"] = f"the triggerer did not report its events: {stderr_tail}"
    log(
        f"  {side} N={n}: {result['describe_calls_per_cycle']} DescribeJobs/cycle, {result['cpu_seconds_per_minute']} CPU s/min, "
        f"{result['rss_per_job_kib']} KiB/job, fired {len(fired)}/{n}, p50 delay {result['fire_delay_p50_s']}s"
    )
    return result


def _terminate(client: Any, job_ids: list[str], spread_seconds: float = 0.0) -> None:
    """Terminate every job; with ``spread_seconds``, evenly over that time so that job ends fall at every
    phase of the poll cycle (all at once would sample one phase only)."""
    started = time.monotonic()
    for i, job_id in enumerate(job_ids):
        if spread_seconds:
            pause = started + spread_seconds * i / len(job_ids) - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        try:
            client.terminate_job(jobId=job_id, reason="benchmark finished")
        except Exception:  # noqa: BLE001 - best effort clean-up
            pass


def _tail(path: Path, lines: int = 6) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def run_trigger_benchmarks(
    sizes: tuple[int, ...] = (100, 500, 1000),
    poll_interval: float = 5.0,
    window: float = 30.0,
    sides: tuple[str, ...] = SIDES,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Every side at every N, on one engine; one result dict each (with ``error`` when not measured)."""
    results = []
    with bench_engine(max_vcpus=max(64, int(max(sizes) * 0.25 * 1.5))) as engine:
        for n in sizes:
            for side in sides:
                try:
                    results.append(measure_side(engine, side, n, poll_interval, window, log=log))
                except Exception as e:  # noqa: BLE001 - a benchmark reports, it does not fail the run
                    results.append({"side": side, "n": n, "error": f"{type(e).__name__}: {e}"})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--side", choices=SIDES, action="append")
    parser.add_argument("-n", type=int, action="append", help="number of jobs (repeatable); default 100, 500, 1000")
    parser.add_argument("--engine-url")
    parser.add_argument("--job-ids-file")
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--ramp-timeout", type=float, default=240.0)
    parser.add_argument("--finish-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    if args.child:
        args.side = args.side[0]
        return child_main(args)
    results = run_trigger_benchmarks(tuple(args.n or (100, 500, 1000)), args.poll_interval, args.window, tuple(args.side or SIDES))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
