"""Submission cost: the AWS Batch API calls each operator makes per job from ``execute()`` to SUBMITTED.

Each operator's ``execute()`` runs ``jobs`` times against the engine with waiting turned off (and, for
the deferrable modes, until it raises ``TaskDeferred``); the engine's request counters, by operation,
give the calls per job. The jobs are ``sleep 600`` jobs (still running when the
operator defers; terminated once counted). The task context is a small stand-in (a task instance with ``dag_id``,
``task_id``, ``run_id``, ``map_index``, ``try_number`` and ``xcom_push``): the only boundary mocked.

Two more rows for our operator: ``ours_task_processes`` runs each job's ``execute()`` in a process of its own, as
Airflow 3 runs every task (the facts are shared through the worker's facts directory, not memory), and
``ours_retry`` runs them as try 2 (the re-attach lookup, one ListJobs, comes back).

Run by hand: ``python -m benchmarks.submission``.
"""

from __future__ import annotations

import inspect
import json
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from .common import BENCH_QUEUE, BENCH_SLEEP_DEFINITION, aws_connection_json, batch_client, bench_engine, request_counts

__all__ = ["MODES", "run_submission_benchmarks"]


@dataclass
class _TaskInstance:
    """What operators read from ``context["ti"]``: identity, and somewhere to push XComs."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    try_number: int = 1
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, *_: Any, **__: Any) -> Any:
        return None


def _context(task_id: str, try_number: int = 1) -> dict[str, Any]:
    from types import SimpleNamespace

    run_id = f"bench__{uuid.uuid4().hex[:12]}"
    ti = _TaskInstance(dag_id="bench_submission", task_id=task_id, run_id=run_id, try_number=try_number)
    dag_run = SimpleNamespace(dag_id=ti.dag_id, run_id=run_id, conf={})
    return {"ti": ti, "task_instance": ti, "run_id": run_id, "dag_run": dag_run, "params": {}, "logical_date": None}


def _peer(deferrable: bool) -> Callable[[str], Any]:
    from airflow.providers.amazon.aws.operators.batch import BatchOperator

    def build(name: str) -> Any:
        return BatchOperator(
            task_id=name,
            job_name=name,
            job_queue=BENCH_QUEUE,
            job_definition=BENCH_SLEEP_DEFINITION,
            wait_for_completion=False,
            deferrable=deferrable,
            aws_conn_id="aws_default",
        )

    return build


def _ours(deferrable: bool) -> Callable[[str], Any]:
    from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator

    params = inspect.signature(BatchEksSubmitJobOperator.__init__).parameters
    if deferrable and "deferrable" not in params:
        raise RuntimeError("BatchEksSubmitJobOperator has no deferrable mode yet")

    def build(name: str) -> Any:
        kwargs: dict[str, Any] = {}
        if deferrable:
            kwargs["deferrable"] = True
        else:
            kwargs["wait_for_completion"] = False
        return BatchEksSubmitJobOperator(
            task_id=name,
            job_name=name,
            job_queue=BENCH_QUEUE,
            job_definition=BENCH_SLEEP_DEFINITION,
            aws_conn_id="aws_default",
            **kwargs,
        )

    return build


# mode -> (side, label, builder)
MODES: dict[str, tuple[str, str, Callable[[], Callable[[str], Any]]]] = {
    "peer_no_wait": ("peer", "BatchOperator(wait_for_completion=False)", lambda: _peer(False)),
    "peer_deferrable": ("peer", "BatchOperator(deferrable=True), until it defers", lambda: _peer(True)),
    "ours_no_wait": ("ours", "BatchEksSubmitJobOperator(wait_for_completion=False)", lambda: _ours(False)),
    "ours_deferrable": ("ours", "BatchEksSubmitJobOperator(deferrable=True), until it defers", lambda: _ours(True)),
    "ours_retry": ("ours", "BatchEksSubmitJobOperator(wait_for_completion=False), try 2", lambda: _ours(False)),
}
TRY_OF_MODE = {"ours_retry": 2}

_PROCESS_SCRIPT = """
import sys
from benchmarks.submission import _context, _ours
from airflow.sdk.bases.operator import ExecutorSafeguard
ExecutorSafeguard.test_mode = True
name = sys.argv[1]
_ours(False)(name).execute(_context(name))
"""


def _measure_mode(engine_url: str, mode: str, jobs: int) -> dict[str, Any]:
    try:
        from airflow.sdk.exceptions import TaskDeferred
    except ImportError:  # older task SDKs
        from airflow.exceptions import TaskDeferred
    from airflow.sdk.bases.operator import ExecutorSafeguard

    ExecutorSafeguard.test_mode = True  # execute() outside a task runner is what this benchmark does, on purpose

    side, label, factory = MODES[mode]
    result: dict[str, Any] = {"mode": mode, "side": side, "label": label, "jobs": jobs}
    try:
        build = factory()
    except Exception as e:  # noqa: BLE001 - not landed yet, or does not offer this mode
        return {**result, "error": f"{type(e).__name__}: {e}"}
    _clear_facts()
    before = request_counts(engine_url)
    after_first: dict[str, int] = {}
    deferred = 0
    for i in range(jobs):
        if i == 1:
            after_first = request_counts(engine_url)
        name = f"sub-{mode.replace('_', '-')}-{i}"
        operator = build(name)
        try:
            operator.execute(_context(name, TRY_OF_MODE.get(mode, 1)))
        except TaskDeferred:
            deferred += 1
        except Exception as e:  # noqa: BLE001
            return {**result, "error": f"execute() raised {type(e).__name__}: {e}"}
    after = request_counts(engine_url)
    _terminate_all(engine_url)
    return _costs(result, before, after_first, after, jobs, deferred)


def _measure_task_processes(engine_url: str, jobs: int) -> dict[str, Any]:
    """Each job submitted by a new Python process, one after the other, as Airflow 3 runs tasks."""
    import os
    import subprocess
    from pathlib import Path

    result: dict[str, Any] = {"mode": "ours_task_processes", "side": "ours", "jobs": jobs,
                              "label": "BatchEksSubmitJobOperator(wait_for_completion=False), a process per task"}
    _clear_facts()
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    before = request_counts(engine_url)
    after_first: dict[str, int] = {}
    for i in range(jobs):
        if i == 1:
            after_first = request_counts(engine_url)
        done = subprocess.run([sys.executable, "-c", _PROCESS_SCRIPT, f"sub-process-{i}"], cwd=root, env=env,
                              capture_output=True, text=True)
        if done.returncode:
            return {**result, "error": f"the task process failed: {done.stderr.strip()[-300:]}"}
    after = request_counts(engine_url)
    _terminate_all(engine_url)
    return _costs(result, before, after_first, after, jobs, 0)


def _costs(
    result: dict[str, Any], before: dict[str, int], after_first: dict[str, int], after: dict[str, int], jobs: int, deferred: int
) -> dict[str, Any]:
    calls = {op: after.get(op, 0) - before.get(op, 0) for op in after if after.get(op, 0) != before.get(op, 0)}
    cold = sum(after_first.get(op, 0) - before.get(op, 0) for op in after_first) if jobs > 1 else sum(calls.values())
    warm_total = sum(after.get(op, 0) - after_first.get(op, 0) for op in after) if jobs > 1 else None
    result.update(
        {
            "calls_cold": cold,
            "calls_warm_per_job": round(warm_total / (jobs - 1), 2) if warm_total is not None else None,
            "calls_per_job": round(sum(calls.values()) / jobs, 2),
            "calls_by_operation_per_job": {op: round(n / jobs, 2) for op, n in sorted(calls.items())},
            "deferred": deferred,
        }
    )
    return result


def _clear_facts() -> None:
    """Start each mode as a cold worker (our hook remembers queue/CE/definition facts per process)."""
    try:
        from batch_eks_provider.hooks.facts import facts_cache
    except ImportError:
        return
    facts_cache.clear()


def measure_tag_limit(engine_url: str) -> dict[str, Any]:
    """A task whose DAG sets 50 tags: with the Airflow tags it is over Batch's limit, and must fail before any call."""
    from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator

    operator = BatchEksSubmitJobOperator(
        task_id="fifty_tags", job_name="fifty-tags", job_queue=BENCH_QUEUE, job_definition=BENCH_SLEEP_DEFINITION,
        tags={f"team-{i}": "x" for i in range(50)}, wait_for_completion=False, aws_conn_id="aws_default",
    )
    before = request_counts(engine_url)
    try:
        operator.execute(_context("fifty_tags"))
        error = None
    except Exception as e:  # noqa: BLE001 - the point: which error, and how many calls before it
        error = f"{type(e).__name__}: {e}"
    after = request_counts(engine_url)
    return {
        "mode": "ours_50_tags",
        "side": "ours",
        "label": "BatchEksSubmitJobOperator(tags=50 tags)",
        "calls_before_failing": sum(after.get(op, 0) - before.get(op, 0) for op in after),
        "error": error or "no error: the 50-tag limit was not checked",
    }


def _terminate_all(engine_url: str) -> None:
    """End the bench jobs (``sleep 600``) once counted, so they do not pile up."""
    client = batch_client(engine_url)
    for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"):
        for summary in client.list_jobs(jobQueue=BENCH_QUEUE, jobStatus=status).get("jobSummaryList", []):
            client.terminate_job(jobId=summary["jobId"], reason="benchmark finished")


def run_submission_benchmarks(jobs: int = 20, process_jobs: int = 5, modes: tuple[str, ...] = tuple(MODES), log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every mode on one engine. The ``aws_default`` connection is pointed at it for the duration."""
    import os

    results = []
    with bench_engine(max_vcpus=64) as engine:
        previous = os.environ.get("AIRFLOW_CONN_AWS_DEFAULT")
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection_json(engine.url)
        try:
            for mode in modes:
                result = _measure_mode(engine.url, mode, jobs)
                log(f"  submission {mode}: {result.get('calls_by_operation_per_job', result.get('error'))}")
                results.append(result)
            result = _measure_task_processes(engine.url, process_jobs)
            log(f"  submission ours_task_processes: {result.get('calls_by_operation_per_job', result.get('error'))}")
            results.append(result)
            tag_case = measure_tag_limit(engine.url)
            log(f"  submission ours_50_tags: {tag_case['calls_before_failing']} calls, {tag_case['error'][:120]}")
            results.append(tag_case)
        finally:
            if previous is None:
                os.environ.pop("AIRFLOW_CONN_AWS_DEFAULT", None)
            else:
                os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = previous
    return results


def main() -> int:
    from .run import prepare_airflow_env

    prepare_airflow_env()
    print(json.dumps(run_submission_benchmarks(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
