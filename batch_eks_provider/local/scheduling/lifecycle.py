"""The job state machine: which status may follow which, and the one function that moves a job.

Every status change in the engine goes through :func:`transition`, which checks the table, stamps
``startedAt``/``stoppedAt``, keeps the per-status index the scheduler walks, and marks the job for
persistence.
"""

from __future__ import annotations

from ..errors import ServerException
from ..store.models import Job, JobStatus as S
from ..store.state import EngineState

__all__ = ["ALLOWED_TRANSITIONS", "transition"]

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.SUBMITTED: frozenset({S.PENDING, S.RUNNABLE, S.FAILED}),
    S.PENDING: frozenset({S.RUNNABLE, S.FAILED, S.SUCCEEDED}),  # SUCCEEDED: array parents only
    S.RUNNABLE: frozenset({S.STARTING, S.FAILED}),
    S.STARTING: frozenset({S.RUNNING, S.RUNNABLE, S.FAILED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.RUNNABLE}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
}


def transition(state: EngineState, job: Job, new_status: str, reason: str | None = None) -> None:
    old = job.status
    if new_status not in ALLOWED_TRANSITIONS[old]:
        raise ServerException(f"Job {job.job_id}: illegal status change {old} -> {new_status}.")
    now_ms = state.clock.now_ms()
    job.status = new_status
    if reason is not None:
        job.status_reason = reason
    if new_status == S.RUNNING:
        job.started_at = now_ms
    if new_status in (S.SUCCEEDED, S.FAILED):
        job.stopped_at = now_ms
    if new_status == S.RUNNABLE:
        job.runnable_since = state.clock.now()
    job.status_history.append((new_status, now_ms))
    state.status_index.move(job, old, new_status)
    state.touch(job)
