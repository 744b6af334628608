"""The order in which a queue offers its RUNNABLE jobs to the compute environments.

FIFO queues (no scheduling policy) offer jobs in the order they became RUNNABLE.
"""

from __future__ import annotations

from typing import Iterator

from .models import Job, JobQueue
from .state import EngineState

__all__ = ["order_runnable"]


def order_runnable(state: EngineState, queue: JobQueue, runnable: dict[str, None]) -> Iterator[Job]:
    for job_id in list(runnable):
        yield state.jobs[job_id]
