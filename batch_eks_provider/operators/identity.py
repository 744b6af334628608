"""Which Airflow task instance a Batch job belongs to.

Every job the submit operator sends carries the task instance's identity as tags (:func:`identity_tags`:
DAG, run, task and map index) plus :data:`TRY_NUMBER_TAG`, the try that submitted it. Before submitting,
the operator asks :meth:`~batch_eks_provider.hooks.batch.BatchEksHook.find_job_by_tags` for the newest job
with the same identity (only where :func:`earlier_job_possible` says one can exist) and re-attaches to it when
:func:`can_reattach` says so: an active job always (a worker killed mid-job, a retried task), a SUCCEEDED job
only when the try that submitted it did not end in success (a task that succeeds marks its job with
:data:`TASK_SUCCEEDED_TAG`). A task cleared after success and run again is new work: it submits a new job.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "IDENTITY_TAG_KEYS",
    "TRY_NUMBER_TAG",
    "TASK_SUCCEEDED_TAG",
    "CLOCK_SKEW_MS",
    "identity_tags",
    "try_number",
    "can_reattach",
    "run_start_ms",
    "earlier_job_possible",
]

IDENTITY_TAG_KEYS = ("airflow:dag_id", "airflow:run_id", "airflow:task_id", "airflow:map_index")
TRY_NUMBER_TAG = "airflow:try_number"
TASK_SUCCEEDED_TAG = "airflow:task_succeeded"
"""Set (to the try number) on a job once the task that owns it returned successfully."""
_TAG_VALUE_LIMIT = 256
CLOCK_SKEW_MS = 10 * 60 * 1000
"""How much older than its DAG run a job of this run may look (clocks of Airflow and AWS differ)."""


def identity_tags(context: Any) -> dict[str, str]:
    """The identity tags of the running task instance (``map_index`` is ``-1`` for an unmapped task)."""
    ti = context["ti"]
    values = (ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))
    return {key: str(value)[:_TAG_VALUE_LIMIT] for key, value in zip(IDENTITY_TAG_KEYS, values)}


def try_number(context: Any) -> int:
    """The running try (1 when the task instance does not say)."""
    value = getattr(context["ti"], "try_number", None)
    return int(value) if value else 1


def can_reattach(job: dict[str, Any], current_try: int) -> bool:
    """Whether a job found by its identity tags is this task instance's work to re-attach to.

    Active jobs: yes. SUCCEEDED: only when it came from this or an earlier try and that try did not end
    in success (the worker died, the task failed after the job ended). Anything else: no.
    """
    from ..outcome import ACTIVE_STATUSES

    if job.get("status") in ACTIVE_STATUSES:
        return True
    if job.get("status") != "SUCCEEDED":
        return False
    tags = job.get("tags") or {}
    if tags.get(TASK_SUCCEEDED_TAG):
        return False
    submitted_by = tags.get(TRY_NUMBER_TAG)
    return submitted_by is None or not submitted_by.isdigit() or int(submitted_by) <= current_try


def run_start_ms(context: Any) -> int | None:
    """The DAG run's ``run_after`` in epoch ms (less :data:`CLOCK_SKEW_MS`): no job of this run is older."""
    run_after = getattr(context.get("dag_run") if hasattr(context, "get") else None, "run_after", None)
    if run_after is None:
        return None
    return int(run_after.timestamp() * 1000) - CLOCK_SKEW_MS


DAG_TEST_USER = "dag_test"
"""The ``triggering_user_name`` of the runs ``dag.test()`` creates (``airflow.sdk.definitions.dag``)."""


def earlier_job_possible(context: Any) -> bool:
    """Whether a job of this task instance can exist before this try submits: only then is the re-attach lookup
    (a ListJobs call) worth making.

    Airflow 3 gives a task instance a new try number each time it is scheduled (``DagRun.schedule_tis``), and the
    execution API starts a try only from QUEUED or RESTARTING, so one try never runs twice: on try 1 no earlier
    try can have submitted anything. A worker killed mid-job makes the task try 2, which looks.
    ``dag.test()`` is the exception: it deletes and re-creates its run, so every run of it is try 1 again and
    a run killed mid-job leaves a job for the next one to find.
    """
    if try_number(context) > 1:
        return True
    dag_run = context.get("dag_run") if hasattr(context, "get") else None
    return getattr(dag_run, "triggering_user_name", None) == DAG_TEST_USER
