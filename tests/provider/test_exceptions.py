"""The exception tree: which errors end a task without Airflow retries, and messages that name the resource."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from batch_eks_provider import exceptions as e
from batch_eks_provider.outcome import failure_error, job_outcome


def test_every_error_is_a_batch_eks_error_and_an_airflow_exception():
    for name in e.__all__:
        cls = getattr(e, name)
        assert issubclass(cls, e.BatchEksError) and issubclass(cls, AirflowException), name


@pytest.mark.parametrize(
    "cls, fails_without_retry",
    [
        (e.BatchEksInvalidInputError, True),
        (e.BatchEksPermanentExitCodeError, True),
        (e.BatchEksDependencyFailedError, True),
        (e.BatchEksSpotReclaimedError, False),
        (e.BatchEksExitCodeError, False),
        (e.BatchEksQueueUnavailableError, False),
        (e.BatchEksJobTimeoutError, False),
    ],
)
def test_only_errors_that_a_retry_cannot_fix_skip_airflow_retries(cls, fails_without_retry):
    assert issubclass(cls, AirflowFailException) is fails_without_retry


def _job(**fields):
    return {
        "jobId": "4f1c0c1e-0000-4000-8000-000000000001",
        "jobName": "nightly-etl",
        "status": "FAILED",
        **fields,
    }


@pytest.mark.parametrize(
    "job, cls",
    [
        (
            _job(
                statusReason="Host EC2 (instance i-08784105ffff56b4f) terminated.",
                eksAttempts=[{"statusReason": "Host EC2 (instance i-08784105ffff56b4f) terminated."}],
            ),
            e.BatchEksSpotReclaimedError,
        ),
        (
            _job(
                statusReason="Essential container in task exited",
                eksAttempts=[{"containers": [{"name": "main", "exitCode": 3, "reason": "Error"}]}],
            ),
            e.BatchEksExitCodeError,
        ),
        (_job(statusReason="Job attempt duration exceeded timeout"), e.BatchEksJobTimeoutError),
        (_job(statusReason="Dependent Job failed"), e.BatchEksDependencyFailedError),
        (_job(statusReason="stopped by on_kill", isTerminated=True), e.BatchEksJobCancelledError),
    ],
)
def test_job_failures_name_the_job_and_its_id(job, cls):
    error = failure_error(job_outcome(job))
    assert type(error) is cls
    assert str(error).startswith("AWS Batch job nightly-etl (4f1c0c1e-0000-4000-8000-000000000001) failed")
    assert error.job_id == job["jobId"]


def test_invalid_input_quotes_the_value():
    error = e.BatchEksInvalidInputError(
        "memory", "2Gi", "must be whole MiB with the 'Mi' suffix, e.g. '2048Mi'."
    )
    assert str(error) == "Invalid memory '2Gi': must be whole MiB with the 'Mi' suffix, e.g. '2048Mi'."
    assert (error.field, error.value) == ("memory", "2Gi")
