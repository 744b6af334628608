"""One reading of a job, and the loop a worker waits in.

:class:`JobWatch` is one check of a job (does it exist, log the attempts not logged yet, is it done);
:func:`wait_for_job_end` repeats it with an injectable clock and sleep until the job ends or a deadline
passes. The sensor's poke runs one :meth:`JobWatch.check` per poke (Airflow's sensor loop is the loop);
the deferred path waits in the triggerer (:mod:`batch_eks_provider.triggers.poller`), which counts missing
readings with the same :data:`~.policy.NOT_FOUND_CYCLES`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..outcome import JobOutcome, attempt_line, job_outcome
from .policy import NOT_FOUND_CYCLES, missing_job_error

__all__ = ["JobWatch", "WaitDeadlineExceeded", "StopWaiting", "wait_for_job_end"]


class WaitDeadlineExceeded(Exception):
    """The deadline passed before the job ended; ``job`` is its last DescribeJobs entry."""

    def __init__(self, job: dict[str, Any], waited: float) -> None:
        super().__init__(f"AWS Batch job {job.get('jobId')} still {job.get('status')} after {waited:.0f}s")
        self.job = job
        self.waited = waited


class StopWaiting(Exception):
    """Raised by an ``on_active`` callback to end the wait early (``value`` is handed to the caller)."""

    def __init__(self, value: Any) -> None:
        super().__init__(repr(value))
        self.value = value


@dataclass
class JobWatch:
    """One reading of a job per call: count it missing, log each attempt once, say whether it ended.

    :param job_id: The job watched.
    :param log: Where attempt lines go (the task's logger).
    """

    job_id: str
    log: logging.Logger | Any
    logged: int = field(default=0, init=False)
    missing: int = field(default=0, init=False)

    def check(self, job: dict[str, Any] | None) -> JobOutcome | None:
        """Read one DescribeJobs entry (``None``: not found); ``None`` back means "not found yet, read again".

        :raises BatchEksError: the job was not found :data:`~.policy.NOT_FOUND_CYCLES` times in a row.
        """
        if job is None:
            self.missing += 1
            if self.missing >= NOT_FOUND_CYCLES:
                raise missing_job_error(self.job_id, self.missing)
            return None
        self.missing = 0
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
    on_active: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Describe the job every ``poll_interval`` seconds until it is SUCCEEDED or FAILED; return its entry.

    The loop is bounded by ``deadline_seconds`` (measured on ``clock``) or, when that is ``None``, by the
    job's own end (its ``timeout``, or the task's ``execution_timeout`` that kills the worker).

    :param on_active: Called with each entry of a job not done yet (follow its logs, explain why it waits,
        decide it is stuck: it may raise :class:`StopWaiting`).
    :raises WaitDeadlineExceeded: the deadline passed first.
    :raises BatchEksError: the job does not exist.
    :raises StopWaiting: ``on_active`` ended the wait.
    """
    started = clock()
    job: dict[str, Any] | None = None
    while True:
        reading = describe()
        outcome = watch.check(reading)
        if reading is not None:
            job = reading
        if outcome is not None and outcome.done:
            return reading  # type: ignore[return-value]
        if on_active is not None and reading is not None:
            on_active(reading)
        waited = clock() - started
        if deadline_seconds is not None and waited >= deadline_seconds:
            raise WaitDeadlineExceeded(job or {"jobId": watch.job_id, "status": "unknown"}, waited)
        sleep(poll_interval if deadline_seconds is None else max(0.0, min(poll_interval, deadline_seconds - waited)))
