"""The one poll policy: every waiter (sync wait, sensor, the triggerer's poller) reads these numbers.

The defaults can be set for a whole deployment in the ``[batch_eks]`` section of the Airflow configuration
(see :func:`batch_eks_provider.get_provider_info`); a task's own ``poll_interval`` wins over the default.
"""

from __future__ import annotations

import math
from typing import Any

from ..exceptions import BatchEksError, BatchEksInvalidInputError

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "MIN_POLL_INTERVAL",
    "MAX_BACKOFF_SECONDS",
    "NOT_FOUND_CYCLES",
    "FAILING_CYCLES_LIMIT",
    "DEFAULT_EXPLAIN_AFTER",
    "MIN_EXPLAIN_INTERVAL",
    "config_float",
    "default_deferrable",
    "default_poll_interval",
    "missing_job_error",
    "poll_interval_seconds",
]

DEFAULT_POLL_INTERVAL = 5.0
"""Seconds between two readings of a job when the task does not say (``[batch_eks] default_poll_interval``)."""
MIN_POLL_INTERVAL = 1.0
"""The shortest interval any waiter polls at: one task must not make a worker or the triggerer describe jobs
20 times a second. Tests against the local engine lower it."""
MAX_BACKOFF_SECONDS = 60.0
"""The longest pause after throttled or failing DescribeJobs cycles."""
NOT_FOUND_CYCLES = 3
"""A job DescribeJobs does not know for this many readings in a row is reported missing (a job just
submitted can be missing from one reading; a job deleted after its retention stays missing)."""
FAILING_CYCLES_LIMIT = 3
"""Non-transient DescribeJobs failures in a row before the waiters are failed."""
DEFAULT_EXPLAIN_AFTER = 300.0
"""Seconds a job may wait in PENDING, RUNNABLE or STARTING before a line says why (``explain_after``)."""
MIN_EXPLAIN_INTERVAL = 30.0
"""The shortest interval between two explanations of one job, and the life of the queue facts they read
(one GetJobQueueSnapshot per queue per interval for all its waiters). Tests lower it."""


def config_float(key: str, fallback: float) -> float:
    """``[batch_eks] <key>`` of the Airflow configuration as a float (``fallback`` when unset)."""
    from airflow.configuration import conf

    return conf.getfloat("batch_eks", key, fallback=fallback)


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` of the Airflow configuration."""
    from airflow.configuration import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


def default_poll_interval() -> float:
    """``[batch_eks] default_poll_interval``, else :data:`DEFAULT_POLL_INTERVAL`."""
    return config_float("default_poll_interval", DEFAULT_POLL_INTERVAL)


def poll_interval_seconds(value: Any, field: str = "poll_interval") -> float:
    """A task's poll interval in seconds: ``None`` is the default; the floor :data:`MIN_POLL_INTERVAL` applies.

    :raises BatchEksInvalidInputError: not a number, or not more than 0 (0 would describe the job in a
        tight loop).
    """
    if value is None or value == "":
        return max(default_poll_interval(), MIN_POLL_INTERVAL)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds):
        raise BatchEksInvalidInputError(field, value, "must be a number of seconds (finite, more than 0).")
    if not seconds > 0:
        raise BatchEksInvalidInputError(field, value, "must be more than 0 seconds (0 would describe the job in a tight loop).")
    return max(seconds, MIN_POLL_INTERVAL)


def missing_job_error(job_id: str | None, readings: int = NOT_FOUND_CYCLES) -> BatchEksError:
    """The one answer to "the job is missing", for every waiter."""
    return BatchEksError(f"AWS Batch job {job_id} does not exist (DescribeJobs did not know it {readings} time(s) in a row).")
