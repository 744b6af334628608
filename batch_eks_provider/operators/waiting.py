"""The one way a worker waits on a Batch job: the submit operator's sync wait and the job sensor's poke.

:class:`JobWatch` is one check of a job (does it exist, log the attempts not logged yet, is it done);
:func:`wait_for_job_end` repeats it with an injectable clock and sleep until the job ends or a deadline
passes. The sensor's poke runs one :meth:`JobWatch.check` per poke (Airflow's sensor loop is the loop);
the deferred path waits in the triggerer (:mod:`batch_eks_provider.triggers.poller`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..exceptions import BatchEksError
from ..outcome import JobOutcome, attempt_line, job_outcome

__all__ = ["JobWatch", "WaitDeadlineExceeded", "wait_for_job_end", "default_deferrable", "missing_job_error"]


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` of the Airflow configuration."""
    from airflow.configuration import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


def missing_job_error(job_id: str | None) -> BatchEksError:
    return BatchEksError(f"AWS Batch job {job_id} does not exist (any more).")


class WaitDeadlineExceeded(Exception):
    """The deadline passed before the job ended; ``job`` is its last DescribeJobs entry."""

    def __init__(self, job: dict[str, Any], waited: float) -> None:
        super().__init__(f"AWS Batch job {job.get('jobId')} still {job.get('status')} after {waited:.0f}s")
        self.job = job
        self.waited = waited


@dataclass
class JobWatch:
    """One reading of a job per call: raise if it is gone, log each attempt once, say whether it ended.

    :param job_id: The job watched.
    :param log: Where attempt lines go (the task's logger).
    """

    job_id: str
    log: logging.Logger | Any
    logged: int = field(default=0, init=False)

    def check(self, job: dict[str, Any] | None) -> JobOutcome:
        """Read one DescribeJobs entry (``None``: not found).

        :raises BatchEksError: the job does not exist.
        """
        if job is None:
            raise missing_job_error(self.job_id)
        attempts = job.get("eksAttempts") or []
        for number in range(self.logged + 1, len(attempts) + 1):
            self.log.info("AWS Batch job %s %s", self.job_id, attempt_line(number, attempts[number - 1]))
        self.logged = max(self.logged, len(attempts))
        return job_outcome(job)


def wait_for_job_end(
    describe: Callable[[], dict[str, Any] | None],
    watch: JobWatch,
    *,
    poll_interval: float,
    deadline_seconds: float | None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Any] = time.sleep,
    on_running: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Describe the job every ``poll_interval`` seconds until it is SUCCEEDED or FAILED; return its entry.

    The loop is bounded by ``deadline_seconds`` (measured on ``clock``) or, when that is ``None``, by the
    job's own end (its ``timeout``, or the task's ``execution_timeout`` that kills the worker).

    :param on_running: Called with each entry of a job not done yet (e.g. to start following its logs).
    :raises WaitDeadlineExceeded: the deadline passed first.
    :raises BatchEksError: the job does not exist.
    """
    started = clock()
    while True:
        job = describe()
        if watch.check(job).done:
            return job  # type: ignore[return-value]
        if on_running is not None:
            on_running(job)  # type: ignore[arg-type]
        waited = clock() - started
        if deadline_seconds is not None and waited >= deadline_seconds:
            raise WaitDeadlineExceeded(job, waited)  # type: ignore[arg-type]
        sleep(poll_interval if deadline_seconds is None else max(0.0, min(poll_interval, deadline_seconds - waited)))
