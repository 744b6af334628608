"""One reading of a Batch job's state, shared by the operator, the sensors and the trigger.

:func:`job_outcome` turns a DescribeJobs entry into a :class:`JobOutcome` (still running, succeeded, or
failed and why); :func:`failure_error` turns a failed outcome into the typed error the task raises;
:func:`describe_attempts` renders ``eksAttempts`` one readable line per attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .exceptions import (
    BatchEksDependencyFailedError,
    BatchEksExitCodeError,
    BatchEksJobCancelledError,
    BatchEksJobFailedError,
    BatchEksJobTimeoutError,
    BatchEksPermanentExitCodeError,
    BatchEksSpotReclaimedError,
)

__all__ = [
    "ACTIVE_STATUSES",
    "TERMINAL_STATUSES",
    "JobOutcome",
    "job_outcome",
    "failure_error",
    "describe_attempts",
    "attempt_line",
    "SPOT_RECLAIM_PREFIX",
]

ACTIVE_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
TERMINAL_STATUSES = ("SUCCEEDED", "FAILED")
SPOT_RECLAIM_PREFIX = "Host EC2"
TIMEOUT_REASON = "Job attempt duration exceeded timeout"
DEPENDENCY_FAILED_REASON = "Dependent Job failed"


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    status: str
    kind: str  # running | succeeded | exit_code | spot_reclaimed | timeout | cancelled | dependency_failed | failed
    status_reason: str | None = None
    exit_code: int | None = None
    attempts: int = 0
    spot_reclaims: int = 0
    job: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES


def _last_failing_exit_code(attempt: dict[str, Any]) -> int | None:
    for container in attempt.get("initContainers", []) + attempt.get("containers", []):
        code = container.get("exitCode")
        if code not in (None, 0):
            return int(code)
    return None


def job_outcome(job: dict[str, Any]) -> JobOutcome:
    """Classify one DescribeJobs entry."""
    status = job["status"]
    reason = job.get("statusReason")
    attempts = job.get("eksAttempts") or []
    reclaims = sum(1 for a in attempts if (a.get("statusReason") or "").startswith(SPOT_RECLAIM_PREFIX))
    common = dict(job_id=job["jobId"], status=status, status_reason=reason, attempts=len(attempts), spot_reclaims=reclaims, job=job)
    if status not in TERMINAL_STATUSES:
        return JobOutcome(kind="running", **common)
    if status == "SUCCEEDED":
        return JobOutcome(kind="succeeded", **common)
    last = attempts[-1] if attempts else {}
    exit_code = _last_failing_exit_code(last) if last else None
    if job.get("isTerminated") or job.get("isCancelled"):
        kind = "cancelled"
    elif (reason or "").startswith(DEPENDENCY_FAILED_REASON):
        kind = "dependency_failed"
    elif (reason or "").startswith(TIMEOUT_REASON):
        kind = "timeout"
    elif (reason or "").startswith(SPOT_RECLAIM_PREFIX) or (last.get("statusReason") or "").startswith(SPOT_RECLAIM_PREFIX):
        kind = "spot_reclaimed"
    elif exit_code is not None:
        kind = "exit_code"
    else:
        kind = "failed"
    return JobOutcome(kind=kind, exit_code=exit_code, **common)


def attempt_line(number: int, attempt: dict[str, Any]) -> str:
    containers = ", ".join(
        f"{c.get('name')}: exit {c.get('exitCode', '-')} ({c.get('reason', '-')})" for c in attempt.get("containers", [])
    ) or "no container ran"
    duration = ""
    if attempt.get("startedAt") and attempt.get("stoppedAt"):
        duration = f", {(attempt['stoppedAt'] - attempt['startedAt']) / 1000:.1f}s"
    reason = f" - {attempt['statusReason']}" if attempt.get("statusReason") else ""
    return f"attempt {number}: pod {attempt.get('podName', '-')} on {attempt.get('nodeName', '-')}{duration}; {containers}{reason}"


def describe_attempts(job: dict[str, Any]) -> list[str]:
    return [attempt_line(i, a) for i, a in enumerate(job.get("eksAttempts") or [], start=1)]


def failure_error(outcome: JobOutcome, permanent_exit_codes: frozenset[int] | set[int] = frozenset()) -> BatchEksJobFailedError:
    """The typed error for a FAILED job, its message naming the job, attempt count and reason."""
    job = outcome.job
    name = job.get("jobName", "")
    head = f"AWS Batch job {name} ({outcome.job_id}) failed after {outcome.attempts} attempt(s): {outcome.status_reason or 'no reason given'}"
    lines = describe_attempts(job)
    message = head + ("\n  " + "\n  ".join(lines) if lines else "")
    kw = dict(job_id=outcome.job_id, job=job)
    if outcome.kind == "exit_code" and outcome.exit_code is not None:
        cls = BatchEksPermanentExitCodeError if outcome.exit_code in permanent_exit_codes else BatchEksExitCodeError
        if cls is BatchEksPermanentExitCodeError:
            message += f"\nExit code {outcome.exit_code} is listed as permanent: the task will not be retried."
        return cls(message, exit_code=outcome.exit_code, **kw)
    return {
        "spot_reclaimed": BatchEksSpotReclaimedError,
        "timeout": BatchEksJobTimeoutError,
        "cancelled": BatchEksJobCancelledError,
        "dependency_failed": BatchEksDependencyFailedError,
    }.get(outcome.kind, BatchEksJobFailedError)(message, **kw)
