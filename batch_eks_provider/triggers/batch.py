"""The trigger deferred Batch tasks wait on."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from airflow.triggers.base import BaseTrigger, TriggerEvent

from ..outcome import job_outcome
from .poller import JobPollerError, shared_client, wait_for_job

__all__ = ["BatchEksJobTrigger", "KILLED_REASON"]

KILLED_REASON = "Terminated by Airflow: the deferred task was cleared or marked failed"


class BatchEksJobTrigger(BaseTrigger):
    """Wait until an AWS Batch job is SUCCEEDED or FAILED, in the triggerer's shared poll loop.

    The trigger only declares what it waits for; every trigger of one connection and region in a
    triggerer shares one client and one loop (:mod:`batch_eks_provider.triggers.poller`), which makes
    ``ceil(N / 100)`` DescribeJobs calls per cycle for N waited jobs.

    The event's payload: ``{"status": "SUCCEEDED"|"FAILED"|"error", "job_id", "kind", "status_reason",
    "attempts", "message"}`` (``kind`` as in :class:`~batch_eks_provider.outcome.JobOutcome`).

    When a person clears the deferred task or marks it failed, :meth:`on_kill` terminates the job if
    ``terminate_on_kill`` (the submit operator, which owns the job); a sensor only watches, so it leaves the job be.

    :param job_id: The Batch job to wait for.
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region, default the connection's.
    :param poll_interval: Seconds between DescribeJobs cycles (the shortest interval of the waiters wins, at
        least :data:`~batch_eks_provider.triggers.poller.MIN_POLL_INTERVAL`).
    :param terminate_on_kill: Terminate the job when the deferred task is cleared or marked failed.
    """

    def __init__(
        self,
        *,
        job_id: str,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        poll_interval: float = 5.0,
        terminate_on_kill: bool = False,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.poll_interval = poll_interval
        self.terminate_on_kill = terminate_on_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "batch_eks_provider.triggers.batch.BatchEksJobTrigger",
            {
                "job_id": self.job_id,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "poll_interval": self.poll_interval,
                "terminate_on_kill": self.terminate_on_kill,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            job = await wait_for_job(self.job_id, self.aws_conn_id, self.region_name, self.poll_interval)
        except JobPollerError as error:
            yield TriggerEvent({"status": "error", "job_id": self.job_id, "message": str(error)})
            return
        outcome = job_outcome(job)
        yield TriggerEvent(
            {
                "status": outcome.status,
                "job_id": self.job_id,
                "kind": outcome.kind,
                "status_reason": outcome.status_reason,
                "attempts": outcome.attempts,
                "message": f"AWS Batch job {job.get('jobName', '')} ({self.job_id}) is {outcome.status}",
            }
        )

    async def on_kill(self) -> None:
        """Terminate the job (if ``terminate_on_kill``): its task was cleared or marked failed while deferred."""
        if not self.terminate_on_kill:
            self.log.info("Leaving AWS Batch job %s running: this task only watched it", self.job_id)
            return

        def terminate() -> None:
            shared_client(self.aws_conn_id, self.region_name).terminate_job(jobId=self.job_id, reason=KILLED_REASON)

        self.log.info("Terminating AWS Batch job %s: %s", self.job_id, KILLED_REASON)
        await asyncio.to_thread(terminate)
