"""Errors raised by the provider.

    BatchEksError (AirflowException)
     +-- BatchEksInvalidInputError        bad operator/hook input, or a job that can never fit, found before any
     |                                    SubmitJob (``field``, ``value``, ``rule``; fails, no Airflow retry)
     +-- BatchEksQueueUnavailableError    queue missing, DISABLED/INVALID, or none of its CEs usable (``reasons``)
     +-- BatchEksComputeEnvironmentError  a compute environment is INVALID, being deleted or missing
     |                                    (``compute_environment``, ``status_reason``)
     +-- BatchEksJobFailedError           the Batch job ended FAILED; subclasses say why:
          +-- BatchEksExitCodeError       a container exited non-zero (``exit_code``)
          |    +-- BatchEksPermanentExitCodeError  ...with a code the DAG declared permanent (no Airflow retry)
          +-- BatchEksSpotReclaimedError  Spot reclaims exhausted Batch's attempts (retryable)
          +-- BatchEksJobTimeoutError     an attempt exceeded ``timeout`` (attemptDurationSeconds)
          +-- BatchEksJobCancelledError   cancelled or terminated (by a person, ``on_kill``, or Batch)
          +-- BatchEksDependencyFailedError  a job in ``depends_on`` failed, so this one never ran
          +-- BatchEksArrayJobFailedError  more children of an array job failed than ``allowed_failures``
                                          (``failed_children``: index, exit codes, reason, pod)
     +-- BatchEksWaitTimeoutError         a wait ran out (a job's ``max_wait``, a CE's ``wait_until_valid``)
     +-- BatchEksJobStuckError            the job waited past ``stuck_after`` (or can never start) and
                                          ``on_stuck="fail"`` cancelled it (``status``, ``reason``)

Every message names the resource and its id: ``AWS Batch job NAME (ID) failed ...``,
``AWS Batch compute environment NAME (ARN) is INVALID: REASON``, ``job queue NAME is DISABLED``,
``Invalid cpu '200': is more than maxvCpus 128 of compute environment CE ... (job queue Q)``.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

__all__ = [
    "BatchEksError",
    "BatchEksInvalidInputError",
    "BatchEksQueueUnavailableError",
    "BatchEksComputeEnvironmentError",
    "BatchEksJobFailedError",
    "BatchEksExitCodeError",
    "BatchEksPermanentExitCodeError",
    "BatchEksSpotReclaimedError",
    "BatchEksJobTimeoutError",
    "BatchEksJobCancelledError",
    "BatchEksDependencyFailedError",
    "BatchEksWaitTimeoutError",
    "BatchEksJobStuckError",
    "BatchEksArrayJobFailedError",
]


class BatchEksError(AirflowException):
    """Base of every error this provider raises."""


class BatchEksInvalidInputError(BatchEksError, AirflowFailException):
    """Input that AWS Batch would reject (or that can never run), caught before any API call.

    Names the field, the value and the rule. Fails the task without Airflow retries: retrying cannot help.
    """

    def __init__(self, field: str, value: Any, rule: str) -> None:
        self.field, self.value, self.rule = field, value, rule
        super().__init__(f"Invalid {field} {value!r}: {rule}")


class BatchEksQueueUnavailableError(BatchEksError):
    """No job queue of those given can take the job now.

    ``reasons`` maps each queue name to why it cannot (missing, DISABLED/INVALID, no usable compute environment).
    """

    def __init__(self, message: str, *, reasons: dict[str, str] | None = None) -> None:
        self.reasons = dict(reasons or {})
        super().__init__(message)


class BatchEksComputeEnvironmentError(BatchEksError):
    """A compute environment is INVALID or otherwise unusable."""

    def __init__(self, message: str, *, compute_environment: str, status_reason: str | None = None) -> None:
        self.compute_environment = compute_environment
        self.status_reason = status_reason
        super().__init__(message)


class BatchEksJobFailedError(BatchEksError):
    """The Batch job ended FAILED. ``job`` is its last DescribeJobs entry."""

    def __init__(self, message: str, *, job_id: str, job: dict[str, Any] | None = None) -> None:
        self.job_id = job_id
        self.job = job or {}
        super().__init__(message)


class BatchEksExitCodeError(BatchEksJobFailedError):
    """A container of the job's last attempt exited non-zero; ``exit_code`` is the first such code."""

    def __init__(
        self, message: str, *, job_id: str, exit_code: int, job: dict[str, Any] | None = None
    ) -> None:
        self.exit_code = exit_code
        super().__init__(message, job_id=job_id, job=job)


class BatchEksPermanentExitCodeError(BatchEksExitCodeError, AirflowFailException):
    """A container exited with a code declared permanent: the task fails without Airflow retries."""


class BatchEksSpotReclaimedError(BatchEksJobFailedError):
    """The job's last attempt was lost to a Spot reclaim (``Host EC2 ... terminated.``); retry is reasonable."""


class BatchEksJobTimeoutError(BatchEksJobFailedError):
    """An attempt ran longer than the job's ``attemptDurationSeconds``."""


class BatchEksJobCancelledError(BatchEksJobFailedError):
    """The job was cancelled or terminated."""


class BatchEksDependencyFailedError(BatchEksJobFailedError, AirflowFailException):
    """A job this one depended on failed, so it never ran; the upstream task carries the cause."""


class BatchEksArrayJobFailedError(BatchEksJobFailedError):
    """Children of an array job failed (more than ``allowed_failures``).

    ``failed_children`` lists the first failed children by index (``index``, ``job_id``, ``exit_codes``,
    ``status_reason``, ``pod_name``); ``failed_count`` counts them all.
    """

    def __init__(
        self,
        message: str,
        *,
        job_id: str,
        failed_children: list[dict[str, Any]],
        failed_count: int,
        job: dict[str, Any] | None = None,
    ) -> None:
        self.failed_children = failed_children
        self.failed_count = failed_count
        super().__init__(message, job_id=job_id, job=job)


class BatchEksWaitTimeoutError(BatchEksError):
    """The task stopped waiting for the job after ``max_wait``; the job may still be running."""


class BatchEksJobStuckError(BatchEksError, AirflowFailException):
    """The job waited too long to start (``stuck_after``) or can never start, and ``on_stuck="fail"`` cancelled it.

    Fails the task without Airflow retries: the same job on the same queue would wait the same way.
    ``status`` is where it waited (PENDING, RUNNABLE, STARTING); ``reason`` says why, in plain words.
    """

    def __init__(self, message: str, *, job_id: str, status: str, reason: str) -> None:
        self.job_id, self.status, self.reason = job_id, status, reason
        super().__init__(message)
