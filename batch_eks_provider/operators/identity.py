"""Which Airflow task instance a Batch job belongs to, and finding that job again after a worker crash.

Every job the submit operator sends carries the task instance's identity as tags (:func:`identity_tags`:
DAG, run, task and map index; never the try number). Before submitting, the operator looks for a job of
the same task instance that is still active or SUCCEEDED (:func:`find_job_of_task_instance`) and
re-attaches to it: a worker killed mid-job and a retried task never make a second job for one try's work.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..outcome import ACTIVE_STATUSES

__all__ = ["IDENTITY_TAG_KEYS", "identity_tags", "find_job_of_task_instance"]

IDENTITY_TAG_KEYS = ("airflow:dag_id", "airflow:run_id", "airflow:task_id", "airflow:map_index")
_REATTACHABLE = (*ACTIVE_STATUSES, "SUCCEEDED")
_TAG_VALUE_LIMIT = 256


def identity_tags(context: Any) -> dict[str, str]:
    """The identity tags of the running task instance (``map_index`` is ``-1`` for an unmapped task)."""
    ti = context["ti"]
    values = (ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))
    return {key: str(value)[:_TAG_VALUE_LIMIT] for key, value in zip(IDENTITY_TAG_KEYS, values)}


def find_job_of_task_instance(hook: Any, *, job_name: str, queues: Iterable[str], tags: dict[str, str]) -> dict[str, Any] | None:
    """The newest active or SUCCEEDED job named ``job_name`` in ``queues`` whose tags include ``tags``.

    Uses the hook's ``find_job_by_tags`` when it has one; otherwise ListJobs (filtered by job name, every
    status) and DescribeJobs to read the tags.
    """
    finder = getattr(hook, "find_job_by_tags", None)
    if finder is not None:
        return finder(job_name=job_name, job_queues=list(queues), tags=tags, statuses=_REATTACHABLE)
    candidates: list[str] = []
    for queue in queues:
        if hook.describe_job_queue(queue) is None:
            continue
        summaries = hook.list_jobs(jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [job_name]}])
        candidates.extend(s["jobId"] for s in summaries if s["status"] in _REATTACHABLE)
    if not candidates:
        return None
    jobs = hook.describe_jobs(candidates).values()
    matching = [j for j in jobs if j["status"] in _REATTACHABLE and all(j.get("tags", {}).get(k) == v for k, v in tags.items())]
    return max(matching, key=lambda j: j.get("createdAt", 0)) if matching else None
