"""The trigger deferred Batch tasks wait on."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Callable

from airflow.triggers.base import BaseTrigger, TriggerEvent

from ..outcome import job_outcome
from ..waiting.explain import HookFacts, WaitExplainer
from ..waiting.rules import StatusTimer, Verdict, WaitRules, verdict
from .poller import JobPoller, JobPollerError, get_poller
from ..waiting.policy import DEFAULT_POLL_INTERVAL

__all__ = ["BatchEksJobTrigger", "KILLED_REASON"]

KILLED_REASON = "Terminated by Airflow: the deferred task was cleared or marked failed"


class BatchEksJobTrigger(BaseTrigger):
    """Wait until an AWS Batch job is SUCCEEDED or FAILED, in the triggerer's shared poll loop.

    The trigger only declares what it waits for; every trigger of one connection and region in a
    triggerer shares one client and one loop (:mod:`batch_eks_provider.triggers.poller`), which makes
    ``ceil(N / 100)`` DescribeJobs calls per cycle for N waited jobs.

    The event's payload: ``{"status": "SUCCEEDED"|"FAILED"|"error", "job_id", "kind", "status_reason",
    "attempts", "message"}`` (``kind`` as in :class:`~batch_eks_provider.outcome.JobOutcome`), or
    ``{"status": "stop", "job_id", "verdict", "message"}`` when ``rules`` say to stop waiting (a stuck job, too
    many Spot reclaims): the task acts on the verdict as the sync wait does.

    While the job waits, the trigger logs why (``rules["explain_after"]``) from the entries the shared loop
    reads anyway, plus the queue's facts shared by every waiter of that queue (one GetJobQueueSnapshot per
    queue per interval), and its upstream jobs described in the same batched calls.

    When a person clears the deferred task or marks it failed, :meth:`on_kill` terminates the job if
    ``terminate_on_kill`` (the submit operator, which owns the job); a sensor only watches, so it leaves the job be.

    :param job_id: The Batch job to wait for.
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region, default the connection's.
    :param poll_interval: Seconds between DescribeJobs cycles (the shortest interval of the waiters wins, at
        least :data:`~batch_eks_provider.triggers.poller.MIN_POLL_INTERVAL`).
    :param terminate_on_kill: Terminate the job when the deferred task is cleared or marked failed.
    :param rules: :meth:`WaitRules.to_dict <batch_eks_provider.waiting.rules.WaitRules.to_dict>`: explain,
        stuck and Spot-reclaim rules; ``None``: the defaults (explain after a few minutes, never stop early).
    :param kubernetes_conn_id: A ``cncf.kubernetes`` connection for reading a STARTING job's pod (None: via EKS).
    """

    clock: Callable[[], float] = staticmethod(time.monotonic)
    """The clock the trigger measures waits on (tests replace it)."""

    def __init__(
        self,
        *,
        job_id: str,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        terminate_on_kill: bool = False,
        rules: dict[str, Any] | None = None,
        kubernetes_conn_id: str | None = None,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.poll_interval = poll_interval
        self.terminate_on_kill = terminate_on_kill
        self.rules = rules
        self.kubernetes_conn_id = kubernetes_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "batch_eks_provider.triggers.batch.BatchEksJobTrigger",
            {
                "job_id": self.job_id,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "poll_interval": self.poll_interval,
                "terminate_on_kill": self.terminate_on_kill,
                "rules": self.rules,
                "kubernetes_conn_id": self.kubernetes_conn_id,
            },
        )

    def _hook(self) -> Any:
        from ..hooks.batch import BatchEksHook

        return BatchEksHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    def _pod_hook(self) -> Any:
        from ..hooks.pods import BatchEksPodHook

        return BatchEksPodHook(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, kubernetes_conn_id=self.kubernetes_conn_id
        )

    async def _wait(self, poller: JobPoller) -> dict[str, Any] | Verdict:
        """The job's terminal entry, or the verdict that stops the wait; explain lines logged on the way."""
        rules = WaitRules.from_dict(self.rules)
        timer = StatusTimer(self.clock)
        explainer = WaitExplainer(rules.explain_after, HookFacts(self._hook, self._pod_hook, lambda: poller.latest), self.clock)
        entries: asyncio.Queue = asyncio.Queue()
        ended = asyncio.ensure_future(poller.wait(self.job_id, self.poll_interval, on_entry=entries.put_nowait))
        reading: asyncio.Future | None = None
        try:
            while True:
                reading = asyncio.ensure_future(entries.get())
                done, _ = await asyncio.wait({ended, reading}, return_when=asyncio.FIRST_COMPLETED)
                if ended in done:
                    job = ended.result()
                    return verdict(rules, job, 0.0) or job
                job = reading.result()
                while not entries.empty():
                    job = entries.get_nowait()  # only the newest entry matters
                waited = timer.observe(job)
                stop = verdict(rules, job, waited)
                if stop is not None:
                    return stop
                upstream = [d["jobId"] for d in job.get("dependsOn") or [] if d.get("jobId")]
                if job.get("status") == "PENDING" and upstream:
                    poller.peek(self.job_id, upstream)  # their states ride along in the next batched call
                if explainer.due(job, waited):
                    line = await asyncio.to_thread(explainer.line, job, waited)
                    if line:
                        self.log.info("%s", line)
        finally:  # cancelled (the task was cleared) or done: leave no waiter behind
            for pending in (ended, reading):
                if pending is not None and not pending.done():
                    pending.cancel()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        poller = get_poller(self.aws_conn_id, self.region_name)
        try:
            result = await self._wait(poller)
        except JobPollerError as error:
            yield TriggerEvent({"status": "error", "job_id": self.job_id, "message": str(error)})
            return
        if isinstance(result, Verdict):
            yield TriggerEvent(
                {
                    "status": "stop",
                    "job_id": self.job_id,
                    "verdict": result.to_dict(),
                    "message": f"Stopped waiting on AWS Batch job {self.job_id}: {result.reason}",
                }
            )
            return
        job = result
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
            self._hook().terminate_job(self.job_id, KILLED_REASON)  # the hook's retry policy, like every call

        self.log.info("Terminating AWS Batch job %s: %s", self.job_id, KILLED_REASON)
        await asyncio.to_thread(terminate)
