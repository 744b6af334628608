"""Which Airflow task instance a Batch job belongs to.

Every job the submit operator sends carries the task instance's identity as tags (:func:`identity_tags`:
DAG, run, task and map index; never the try number). Before submitting, the operator asks
:meth:`~batch_eks_provider.hooks.batch.BatchEksHook.find_job_by_tags` for a job with the same identity that
is still active or SUCCEEDED and re-attaches to it: a worker killed mid-job and a retried task never make a
second job for one try's work.
"""

from __future__ import annotations

from typing import Any

__all__ = ["IDENTITY_TAG_KEYS", "identity_tags"]

IDENTITY_TAG_KEYS = ("airflow:dag_id", "airflow:run_id", "airflow:task_id", "airflow:map_index")
_TAG_VALUE_LIMIT = 256


def identity_tags(context: Any) -> dict[str, str]:
    """The identity tags of the running task instance (``map_index`` is ``-1`` for an unmapped task)."""
    ti = context["ti"]
    values = (ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))
    return {key: str(value)[:_TAG_VALUE_LIMIT] for key, value in zip(IDENTITY_TAG_KEYS, values)}
