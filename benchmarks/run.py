"""``make bench``: every benchmark in one run, one table, ``bench-results/bench.json``.

Rows: metric, N, peer (the Amazon provider, or bare process spawning for the engine), ours, ratio
(peer / ours: how many times ours is lower) and the target. A figure that could not be measured says so
and why; nothing is estimated. Benchmarks report: the run exits 0 unless the harness itself crashes.

Options: ``--quick`` (N = 20 and 50, short windows: a smoke run of the harness), ``--sizes 100,500``,
``--window SECONDS``, ``--poll-interval SECONDS``, ``--only triggers,submission,engine,chatty``,
``--docs docs/benchmarks.md`` (also write the table there), ``--reuse bench-results/bench.json`` (parts not
run now come from that earlier run; the JSON says which).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import math
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

__all__ = ["prepare_airflow_env", "build_rows", "render_table", "main"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench-results"
PARTS = ("triggers", "submission", "engine", "chatty")


def prepare_airflow_env() -> Path:
    """Give this process (and its children) an Airflow home of its own, before Airflow is imported."""
    home = Path(tempfile.mkdtemp(prefix="batch-eks-bench-airflow-"))
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.pop("AWS_PROFILE", None)
    return home


# ------------------------------------------------------------------------------------------------- rows


def _ratio(peer: Any, ours: Any) -> float | None:
    if not isinstance(peer, (int, float)) or not isinstance(ours, (int, float)):
        return None
    if ours == 0:
        return math.inf if peer > 0 else None
    return round(peer / ours, 2)


def _row(metric: str, n: Any, peer: Any, ours: Any, target: str, unit: str = "", note: str | None = None) -> dict[str, Any]:
    return {"metric": metric, "n": n, "unit": unit, "peer": peer, "ours": ours, "ratio": _ratio(peer, ours), "target": target, "note": note}


_TRIGGER_METRICS = (
    ("DescribeJobs calls per poll cycle", "describe_calls_per_cycle", "calls", lambda n: f"ours = ceil(N/100) = {math.ceil(n / 100)}"),
    ("triggerer CPU seconds per minute", "cpu_seconds_per_minute", "s/min", lambda n: "ratio >= 10"),
    ("RSS growth per deferred job", "rss_per_job_kib", "KiB", lambda n: "ratio >= 20"),
    ("delay job end -> trigger fires, p50", "fire_delay_p50_s", "s", lambda n: "report"),
    ("delay job end -> trigger fires, p95", "fire_delay_p95_s", "s", lambda n: "report"),
)


def _trigger_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    by_key = {(r["side"], r["n"]): r for r in results}
    for n in sorted({r["n"] for r in results}):
        peer, ours = by_key.get(("peer", n), {}), by_key.get(("ours", n), {})
        for metric, key, unit, target in _TRIGGER_METRICS:
            notes = [f"{side}: not measured: {r['error']}" for side, r in (("peer", peer), ("ours", ours)) if r.get("error")]
            if key.startswith("fire_delay"):
                for side, r in (("peer", peer), ("ours", ours)):
                    if r and not r.get("error") and r.get("fired", 0) < n:
                        notes.append(f"{side}: only {r.get('fired', 0)}/{n} triggers fired")
            rows.append(
                _row(metric, n, None if peer.get("error") else peer.get(key), None if ours.get("error") else ours.get(key),
                     target(n), unit, "; ".join(notes) or None)
            )  # fmt: skip
    sizes = sorted({r["n"] for r in results})
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]

        def slope(side: str) -> float | None:
            a, b = by_key.get((side, small), {}), by_key.get((side, large), {})
            if a.get("error") or b.get("error") or a.get("rss_per_job_kib") is None or b.get("rss_per_job_kib") is None:
                return None
            return round((b["rss_per_job_kib"] * large - a["rss_per_job_kib"] * small) / (large - small), 2)

        rows.append(
            _row(f"RSS growth per extra deferred job, slope N={small}..{large}", f"{small}..{large}", slope("peer"), slope("ours"),
                 "ratio >= 20", "KiB", "the marginal cost of one more deferred job: fixed costs (a client, imports) cancel out")
        )  # fmt: skip
    return rows


def _submission_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_mode = {r["mode"]: r for r in results}
    rows = []
    for title, peer_mode, ours_mode in (
        ("API calls per job, execute() to SUBMITTED (no wait)", "peer_no_wait", "ours_no_wait"),
        ("API calls per job, execute() until deferred", "peer_deferrable", "ours_deferrable"),
    ):
        peer, ours = by_mode.get(peer_mode, {}), by_mode.get(ours_mode, {})
        notes = [f"{side}: not measured: {r['error']}" for side, r in (("peer", peer), ("ours", ours)) if r.get("error")]
        for side, r in (("peer", peer), ("ours", ours)):
            if r.get("calls_by_operation_per_job"):
                notes.append(f"{side}: " + ", ".join(f"{op} {n:g}" for op, n in r["calls_by_operation_per_job"].items()))
        jobs = peer.get("jobs") or ours.get("jobs")
        rows.append(_row(title, jobs, peer.get("calls_per_job"), ours.get("calls_per_job"), "report", "calls", "; ".join(notes) or None))
        for key, which in (("calls_cold", "first job of a cold worker"), ("calls_warm_per_job", "each later job (warm worker)")):
            if peer.get(key) is not None or ours.get(key) is not None:
                rows.append(_row(f"{title}: {which}", jobs, peer.get(key), ours.get(key), "report", "calls"))
    for mode, title in (
        ("ours_task_processes", "API calls per job, a process per task (as Airflow 3 runs tasks), no wait"),
        ("ours_retry", "API calls per job, try 2 (the re-attach lookup), no wait"),
    ):
        r = by_mode.get(mode)
        if not r:
            continue
        note = r.get("error") and f"not measured: {r['error']}"
        note = note or ", ".join(f"{op} {n:g}" for op, n in (r.get("calls_by_operation_per_job") or {}).items())
        rows.append(_row(title, r.get("jobs"), None, r.get("calls_per_job"), "report", "calls", note))
        for key, which in (("calls_cold", "first job of a cold worker"), ("calls_warm_per_job", "each later job (warm worker)")):
            if r.get(key) is not None:
                rows.append(_row(f"{title}: {which}", r.get("jobs"), None, r.get(key), "report", "calls"))
    tags = by_mode.get("ours_50_tags")
    if tags:
        rows.append(_row("API calls before a 50-tag task fails (Airflow tags included)", 1, None,
                         tags.get("calls_before_failing"), "report", "calls", tags.get("error", "")[:160]))
    return rows


def _run_engine_part(log: Callable[[str], None]) -> tuple[list[dict[str, Any]], Any]:
    """H2's ``benchmarks.engine``: rows as it reports them, or one row saying why nothing was measured."""
    try:
        module = importlib.import_module("benchmarks.engine")
    except ImportError as e:
        reason = f"benchmarks.engine is not there yet ({e})"
        return [_row("engine: SubmitJob/DescribeJobs latency, 10,000-child array job", None, None, None, "report", note=f"not measured: {reason}")], None
    for name in ("run_engine_benchmarks", "run_benchmarks", "run", "main"):
        fn = getattr(module, name, None)
        if callable(fn):
            break
    else:
        return [_row("engine benchmarks", None, None, None, "report", note="not measured: benchmarks.engine has no run function")], None
    kwargs = {"log": log} if "log" in inspect.signature(fn).parameters else {}
    raw = fn(**kwargs)
    if isinstance(raw, dict) and "array_engine" in raw:
        return _engine_rows(raw), raw
    rows_in = raw.get("rows") if isinstance(raw, dict) else raw
    rows: list[dict[str, Any]] = []
    if isinstance(rows_in, list) and all(isinstance(r, dict) and "metric" in r for r in rows_in):
        for r in rows_in:
            rows.append(_row(f"engine: {r['metric']}", r.get("n"), r.get("peer"), r.get("ours"), r.get("target", "report"), r.get("unit", ""), r.get("note")))
            if r.get("ratio") is not None:
                rows[-1]["ratio"] = r["ratio"]
    else:
        rows.append(_row("engine benchmarks", None, None, None, "report", note=f"not measured: unrecognised result from benchmarks.engine.{fn.__name__}"))
    return rows, raw


def _engine_rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows from ``benchmarks.engine.run()``: API latency (no peer) and the array job against bare spawning."""
    rows: list[dict[str, Any]] = []
    for key, label in (("submit_job_ms", "engine: SubmitJob latency"), ("describe_jobs_100_ms", "engine: DescribeJobs latency (100 ids)")):
        measured = raw.get("api", {}).get(key)
        if measured:
            for pct in ("p50", "p99"):
                rows.append(_row(f"{label} {pct}", measured["n"], "-", round(measured[pct], 2), "report", "ms"))
    engine, direct = raw.get("array_engine", {}), raw.get("array_direct", {})
    if engine and direct:
        note = (f"peer = the same processes spawned directly with asyncio; concurrency {engine.get('concurrency')}; "
                f"engine: {engine.get('status')}, {engine.get('succeeded')} children succeeded, {engine.get('failed')} failed")
        rows.append(_row(f"engine: {engine['size']:,}-child array job, submit to SUCCEEDED", engine["size"],
                         round(direct["wall_seconds"], 2), round(engine["wall_seconds"], 2),
                         "engine/direct < 1.5 (ratio > 0.67)", "s", note))  # fmt: skip
    threaded = raw.get("array_direct_threaded", {})
    if engine and threaded:
        rows.append(_row(f"engine: {engine['size']:,}-child array job vs the engine's spawner alone", engine["size"],
                         round(threaded["wall_seconds"], 2), round(engine["wall_seconds"], 2), "report", "s",
                         "peer = the engine's own spawner (thread-pool fork/exec + pidfd) without the engine: its overhead"))  # fmt: skip
    return rows


def build_rows(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The table's rows from the raw results of each part (this run's, or reused from an earlier one)."""
    rows: list[dict[str, Any]] = []
    if "triggers" in raw:
        rows += _trigger_rows(raw["triggers"])
    if "submission" in raw:
        rows += _submission_rows(raw["submission"])
    if "engine_rows" in raw:
        rows += raw["engine_rows"]
    if "chatty" in raw:
        rows += _chatty_rows(raw["chatty"])
    return rows


def _chatty_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows from ``benchmarks.chatty_job.run()`` (one job printing 1 M lines), or one saying why none."""
    if result.get("error"):
        return [_row("chatty job (1 M lines, 50 MB)", result.get("lines"), None, None, "report", note=f"not measured: {result['error']}")]
    from .chatty_job import rows as chatty_rows

    return [_row(r["metric"], r["n"], r["peer"], r["ours"], r["target"], r["unit"], r["note"]) for r in chatty_rows(result)]


# ------------------------------------------------------------------------------------------------ table


def _cell(value: Any) -> str:
    if value is None:
        return "n/m"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf"
        return f"{value:g}" if abs(value) >= 0.01 or value == 0 else f"{value:.2e}"
    return str(value)


def render_table(rows: list[dict[str, Any]], markdown: bool = False) -> str:
    header = ["metric", "N", "peer", "ours", "ratio", "target"]
    body = []
    for r in rows:
        ratio = "" if r["ratio"] is None else ("inf" if math.isinf(r["ratio"]) else f"{r['ratio']:g}x")
        unit = f" ({r['unit']})" if r.get("unit") else ""
        body.append([r["metric"] + unit, _cell(r["n"]), _cell(r["peer"]), _cell(r["ours"]), ratio, r["target"]])
    notes = [(i + 1, r["note"]) for i, r in enumerate(rows) if r.get("note")]
    if markdown:
        lines = ["| " + " | ".join(header) + " | note |", "|" + "---|" * (len(header) + 1)]
        for i, cells in enumerate(body, 1):
            lines.append("| " + " | ".join(cells) + f" | {i if rows[i - 1].get('note') else ''} |")
        lines.append("")
        lines += [f"{i}. {note}" for i, note in notes]
        return "\n".join(lines)
    widths = [max(len(h), *(len(c[k]) for c in body)) if body else len(h) for k, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    for i, cells in enumerate(body, 1):
        lines.append(fmt.format(*cells) + (f"  [{i}]" if rows[i - 1].get("note") else ""))
    if notes:
        lines.append("")
        lines += [f"[{i}] {note}" for i, note in notes]
    return "\n".join(lines)


def _machine_line(machine: dict[str, Any]) -> str:
    return (
        f"{machine['nproc']} CPUs ({machine['cpu_model']}), {machine['memory_gib']} GiB RAM, {machine['platform']}; "
        f"Python {machine['python']}, Airflow {machine['airflow']}, apache-airflow-providers-amazon {machine['amazon_provider']}, "
        f"batch-eks-provider {machine['batch_eks_provider']} (git {machine['git_commit']}), botocore {machine['botocore']}, "
        f"aiobotocore {machine['aiobotocore']}; load average at start {machine['load_average_at_start']}"
    )


def write_docs(path: Path, report: dict[str, Any]) -> None:
    params = report["parameters"]
    reused = ""
    if report.get("reused"):
        reused = "\nParts taken from an earlier run on the same machine: " + ", ".join(
            f"{part} (finished {when})" for part, when in sorted(report["reused"].items())
        ) + "."
    text = f"""# Benchmarks

`make bench` measures our provider side by side with the Amazon provider
(`apache-airflow-providers-amazon`) on the local engine, in one run on one machine, and prints this table
(also written to `bench-results/bench.json`). Ratios are peer / ours: how many times lower ours is.
Benchmarks report; they never fail on a slow machine. "n/m" = not measured (the note says why).

Latest run: {report['finished_at']} ({report['duration_seconds']:.0f} s), on
{_machine_line(report['machine'])}.{reused}

{render_table(report['rows'], markdown=True)}

## Reading the table

- "RSS growth per deferred job" divides everything the triggerer grew by N, including one-time costs (ours: one
  shared boto3 client and the poller; the peer: nothing shared), so it understates ours at small N. The slope row
  (growth between the smallest and the largest N, per extra job) is the cost of one more deferred task.
- The peer's DescribeJobs per interval falls below N at large N: a triggerer with one aiobotocore client per
  trigger cannot keep the poll cadence on a small machine; that is measured, not corrected.
- The firing delay is bounded by the poll interval on both sides; ours wakes every waiter of a cycle at once.
- Submission: before SubmitJob ours checks the queue and its compute environments and resolves the job definition
  (three calls, the "first job of a cold worker"); every task of that worker then reuses them for 30 s, whether it
  runs in the same process or, as Airflow 3 runs tasks, in a process of its own (the facts directory). A try after
  another first looks for a job of the same task instance (one ListJobs: re-attach after a worker crash); try 1
  cannot have one. BatchOperator only submits (and, deferrable, describes the job once).

## How each figure is measured

- **Deferred waiting** (`benchmarks/triggers.py`): N `sleep 600` jobs (0.25 vCPU, 8Mi) RUNNING on one
  compute environment large enough for all of them. A child process plays the triggerer: it builds one
  trigger per job (ours: `BatchEksJobTrigger`; peer: `BatchJobTrigger`, what the deferrable
  `BatchOperator` defers to) and runs every `run()` as a task on one asyncio loop. Poll interval
  {params['poll_interval']} s on both sides; measured window {params['window']} s after every trigger has polled once.
  - DescribeJobs per poll cycle: engine `/metrics` request counter delta over the window / (window / poll interval).
    The peer's triggers each call DescribeJobs for their one job every interval (plus the request time,
    so slightly under N per interval).
  - CPU: `time.process_time()` of the triggerer process over the window, scaled to a minute.
  - Memory: `VmRSS` just before the triggers are built vs once all poll, divided by N.
  - Delay: after the window every job is terminated; trigger fire time (wall clock) minus the job's
    `stoppedAt` from the engine. The engine's runtime memory watch is slowed to every 30 s for this
    benchmark so 1,000 pods don't keep the engine's loop busy for both sides.
- **Submission** (`benchmarks/submission.py`): each operator's `execute()` run {params['submission_jobs']} times with a
  stand-in task context, waiting off (or until it defers); engine request counters by operation / jobs.
- **Engine** (`benchmarks/engine.py`): SubmitJob/DescribeJobs latency and the 10,000-child array job against bare
  process spawning, when that module is present.
- **Chatty job** (`benchmarks/chatty_job.py`): one job printing 1,000,000 lines of 49 characters (49 MB): SubmitJob to
  SUCCEEDED, and to the moment its last line is in SQLite, against the same command with its output read from a
  pipe; DescribeJobs p50/p99 from a client in a child process polling from SubmitJob until the output is written;
  the engine's event loop lag (how late a 10 ms timer fires on it); the engine's RSS growth (the engine runs in the
  benchmark's process); SQLite's growth (database and WAL files) over the bytes printed.

Run one part or smaller sizes: `make bench BENCH_ARGS="--only triggers --sizes 100"`, or `--quick` for a smoke run.
The peer's deferrable path needs `aiobotocore` (in the `test` extra).

## Reliability suite

`make test` runs `tests/reliability/` short; `make soak` runs the same scenarios bigger (`SOAK=1`, each bounded by
a 15-minute timeout). Each prints what it tried and what held at the end of the pytest run, e.g.
`faults: 8 tasks, 30% faults (...), 0 lost, 0 duplicates, 8/8 tasks ended with their job's true outcome`.

| scenario | short (`make test`) | soak (`make soak`) | what must hold |
|---|---|---|---|
| throttling + 5xx on 30% of engine requests (`POST /_local/faults`) | 8 mapped DAG tasks | 50 | every task ends with its job's true outcome; one job per task; SubmitJob accepted = tasks |
| engine stopped mid-run, started on the same state dir and port | 4 running jobs | 20 | definitions, queues and every job kept; running attempts fail as lost hosts and retry (`spot_only(2)`: 2 attempts, SUCCEEDED) |
| random Spot reclaims (`POST /_local/reclaim`) | 20 jobs, 1 round | 100 jobs, 2 rounds | all SUCCEEDED; attempts = 1 + attempts ended by a reclaim |
| worker SIGKILLed mid-job, task retried | 1 | 3 | the retry re-attaches (identity tags): one SubmitJob, one job |
| bad input | 20 operator inputs, 8 raw requests | 16 MiB oversized body | `BatchEksInvalidInputError` naming the field, 0 SubmitJob; AWS-style 4xx errors; the engine keeps serving |
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# ------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes and short windows (smoke run)")
    parser.add_argument("--sizes", help="comma-separated N for the trigger benchmark (default 100,500,1000)")
    parser.add_argument("--window", type=float, help="measured window per side, seconds (default 30)")
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--submission-jobs", type=int)
    parser.add_argument("--only", help=f"comma-separated parts: {','.join(PARTS)}")
    parser.add_argument("--out", default=str(RESULTS_DIR / "bench.json"))
    parser.add_argument("--docs", help="also write the table and machine to this markdown file")
    parser.add_argument("--reuse", help="an earlier bench.json: take the parts not run now from it (said so in the JSON)")
    args = parser.parse_args(argv)
    prepare_airflow_env()
    from .common import machine_info

    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else ((20, 50) if args.quick else (100, 500, 1000))
    window = args.window or (10.0 if args.quick else 30.0)
    submission_jobs = args.submission_jobs or (5 if args.quick else 10)
    parts = tuple(args.only.split(",")) if args.only else PARTS
    started = time.monotonic()
    report: dict[str, Any] = {
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "parameters": {"sizes": sizes, "window": window, "poll_interval": args.poll_interval, "submission_jobs": submission_jobs, "parts": parts},
        "raw": {},
    }
    log = lambda message: print(message, flush=True)  # noqa: E731
    log(f"machine: {_machine_line(report['machine'])}")
    if args.reuse:
        earlier = json.loads(Path(args.reuse).read_text())
        for part, keys in (("triggers", ("triggers",)), ("submission", ("submission",)), ("engine", ("engine", "engine_rows")), ("chatty", ("chatty",))):
            if part not in parts:
                for key in keys:
                    if key in earlier.get("raw", {}):
                        report["raw"][key] = earlier["raw"][key]
                        report.setdefault("reused", {})[key] = earlier.get("finished_at")
        log(f"reused from {args.reuse}: {sorted(report.get('reused', {}))}")
    if "triggers" in parts:
        from .triggers import run_trigger_benchmarks

        log(f"deferred waiting: N = {', '.join(map(str, sizes))}, poll {args.poll_interval}s, window {window}s per side")
        try:
            report["raw"]["triggers"] = run_trigger_benchmarks(sizes, args.poll_interval, window, log=log)
        except Exception as e:  # noqa: BLE001 - report what broke, keep the rest
            report["raw"]["triggers"] = [{"side": s, "n": n, "error": f"{type(e).__name__}: {e}"} for n in sizes for s in ("peer", "ours")]
    if "submission" in parts:
        from .submission import run_submission_benchmarks

        log(f"submission: {submission_jobs} jobs per operator mode")
        try:
            report["raw"]["submission"] = run_submission_benchmarks(submission_jobs, log=log)
        except Exception as e:  # noqa: BLE001
            report["raw"]["submission"] = [{"mode": m, "error": f"{type(e).__name__}: {e}"} for m in ("peer_no_wait", "ours_no_wait")]
    if "engine" in parts:
        log("engine: benchmarks.engine")
        try:
            report["raw"]["engine_rows"], report["raw"]["engine"] = _run_engine_part(log)
        except Exception as e:  # noqa: BLE001
            report["raw"]["engine_rows"] = [
                _row("engine benchmarks", None, None, None, "report", note=f"not measured: crashed: {type(e).__name__}: {e}")
            ]
    if "chatty" in parts:
        from .chatty_job import run as run_chatty

        lines = 100_000 if args.quick else 1_000_000
        log(f"chatty job: {lines:,} lines")
        try:
            report["raw"]["chatty"] = run_chatty(lines)
        except Exception as e:  # noqa: BLE001
            report["raw"]["chatty"] = {"lines": lines, "error": f"{type(e).__name__}: {e}"}
    rows = build_rows(report["raw"])
    report["rows"] = rows
    report["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    report["duration_seconds"] = round(time.monotonic() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print()
    print(render_table(rows))
    print(f"\n{len(rows)} rows in {report['duration_seconds']:.0f}s; written to {out}")
    if args.docs:
        write_docs(Path(args.docs), report)
        print(f"table written to {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
