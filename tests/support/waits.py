"""Helpers shared by tests: waiting on the engine with a bound, never a bare sleep loop."""

from __future__ import annotations

import time
from typing import Any, Callable

__all__ = ["wait_for", "wait_for_job"]


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_for_job(batch, job_id: str, statuses=("SUCCEEDED", "FAILED"), timeout: float = 30.0) -> dict:
    def done():
        jobs = batch.describe_jobs(jobs=[job_id])["jobs"]
        return jobs[0] if jobs and jobs[0]["status"] in statuses else None

    return wait_for(done, timeout=timeout, what=f"job {job_id} to reach {statuses}")
