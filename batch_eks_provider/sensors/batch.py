"""Sensors that wait on an AWS Batch job, compute environment or job queue."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Sequence

from airflow.sdk import BaseSensorOperator

from ..exceptions import BatchEksComputeEnvironmentError, BatchEksError, BatchEksQueueUnavailableError
from ..hooks.batch import BatchEksHook
from ..hooks.compute_environment import compute_environment_ready
from ..outcome import failure_error
from ..triggers.batch import BatchEksJobTrigger
from ..waiting.explain import HookFacts, WaitExplainer
from ..waiting.policy import DEFAULT_EXPLAIN_AFTER, default_deferrable, poll_interval_seconds
from ..waiting.rules import StatusTimer, WaitRules
from ..waiting.watch import JobWatch

__all__ = ["BatchEksJobSensor", "BatchEksComputeEnvironmentSensor", "BatchEksJobQueueSensor"]


class _BatchEksSensor(BaseSensorOperator):
    ui_color = "#ff9900"

    def __init__(self, *, aws_conn_id: str | None = "aws_default", region_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name

    @property
    def hook(self) -> BatchEksHook:
        return BatchEksHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)


class BatchEksJobSensor(_BatchEksSensor):
    """Wait until an AWS Batch job is SUCCEEDED; a FAILED job fails the sensor with the typed error of its cause.

    The sensor only watches: clearing it or marking it failed never terminates the job.

    :param job_id: The job (templated; e.g. a submit task's ``output``).
    :param permanent_exit_codes: Exit codes that fail the sensor without Airflow retries.
    :param deferrable: Wait in the triggerer (shared poll loop) instead of poking.
    :param poll_interval: Seconds between DescribeJobs cycles when deferred (``poke_interval`` when poking);
        default ``[batch_eks] default_poll_interval``.
    :param explain_after: Seconds in PENDING, RUNNABLE or STARTING before the log says why the job waits (as the
        submit operator does); None: never.
    :param kubernetes_conn_id: A ``cncf.kubernetes`` connection for reading a STARTING job's pod; None reaches
        the cluster through EKS.
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region, default the connection's.
    """

    template_fields: Sequence[str] = ("job_id", "explain_after", "aws_conn_id", "region_name", "kubernetes_conn_id")
    wait_clock = staticmethod(time.monotonic)
    """The clock the explanations measure waits on (tests replace it on an instance)."""

    def __init__(
        self,
        *,
        job_id: str,
        permanent_exit_codes: Sequence[int] = (),
        deferrable: bool | None = None,
        poll_interval: float | None = None,
        explain_after: float | str | None = DEFAULT_EXPLAIN_AFTER,
        kubernetes_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.explain_after = explain_after
        self.kubernetes_conn_id = kubernetes_conn_id
        self._timer: StatusTimer | None = None
        self._explainer: WaitExplainer | None = None
        self.permanent_exit_codes = frozenset(int(code) for code in permanent_exit_codes)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self._watch: JobWatch | None = None

    def _rules(self) -> WaitRules:
        return WaitRules.parse(explain_after=self.explain_after, on_stuck=None, stuck_after=None, max_spot_reclaims=None)

    def _pod_hook(self) -> Any:
        from ..hooks.pods import BatchEksPodHook

        return BatchEksPodHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, kubernetes_conn_id=self.kubernetes_conn_id)

    def _check(self, job: dict[str, Any] | None) -> bool:
        if self._watch is None or self._watch.job_id != self.job_id:
            self._watch = JobWatch(self.job_id, self.log)
            self._timer = StatusTimer(self.wait_clock)
            facts = HookFacts(lambda: self.hook, self._pod_hook)
            self._explainer = WaitExplainer(self._rules().explain_after, facts, self.wait_clock)
        outcome = self._watch.check(job)  # the one per-cycle reading the operator's sync wait uses too
        if outcome is None:
            self.log.info("AWS Batch job %s is not known to DescribeJobs yet", self.job_id)
            return False
        if not outcome.done:
            self.log.info("AWS Batch job %s is %s", self.job_id, outcome.status)
            line = self._explainer.line(job, self._timer.observe(job)) if self._explainer and self._timer else None
            if line:
                self.log.info("%s", line)
            return False
        if outcome.status != "SUCCEEDED":
            raise failure_error(outcome, self.permanent_exit_codes)
        return True

    def poke(self, context: Any) -> bool:
        return self._check(self.hook.describe_job(self.job_id))

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if not self.poke(context):
            self.defer(
                trigger=BatchEksJobTrigger(
                    job_id=self.job_id,
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    poll_interval=poll_interval_seconds(self.poll_interval),
                    rules=self._rules().to_dict(),
                    kubernetes_conn_id=self.kubernetes_conn_id,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout) if self.timeout else None,
            )
        return None

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> None:
        if not event or event.get("status") == "error":
            raise BatchEksError((event or {}).get("message") or f"Waiting on AWS Batch job {self.job_id} failed.")
        self._check(self.hook.describe_job(event["job_id"]))


class BatchEksComputeEnvironmentSensor(_BatchEksSensor):
    """Wait until a compute environment is VALID (and, if given, in ``state``); INVALID fails with its statusReason.

    :param compute_environment: Name or ARN (templated).
    :param state: ``"ENABLED"`` or ``"DISABLED"`` to wait for as well; None accepts either.
    """

    template_fields: Sequence[str] = ("compute_environment", "aws_conn_id", "region_name")

    def __init__(self, *, compute_environment: str, state: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.compute_environment = compute_environment
        self.state = state

    def poke(self, context: Any) -> bool:
        found = self.hook.describe_compute_environments([self.compute_environment])
        if not found:
            raise BatchEksComputeEnvironmentError(
                f"Compute environment {self.compute_environment!r} does not exist.", compute_environment=self.compute_environment
            )
        ce = found[0]
        self.log.info("Compute environment %s is %s/%s", self.compute_environment, ce.get("state"), ce.get("status"))
        return compute_environment_ready(ce, self.state)  # the hook's wait_until_valid rule: INVALID, DELETING fail


class BatchEksJobQueueSensor(_BatchEksSensor):
    """Wait until a job queue is ENABLED and VALID; an INVALID queue fails the sensor.

    :param job_queue: Name or ARN (templated).
    """

    template_fields: Sequence[str] = ("job_queue", "aws_conn_id", "region_name")

    def __init__(self, *, job_queue: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_queue = job_queue

    def poke(self, context: Any) -> bool:
        queue = self.hook.describe_job_queue(self.job_queue)
        if queue is None:
            raise BatchEksQueueUnavailableError(f"Job queue {self.job_queue!r} does not exist.")
        if queue.get("status") == "INVALID":
            raise BatchEksQueueUnavailableError(f"Job queue {self.job_queue} is INVALID: {queue.get('statusReason')}")
        self.log.info("Job queue %s is %s/%s", self.job_queue, queue.get("state"), queue.get("status"))
        return queue.get("state") == "ENABLED" and queue.get("status") == "VALID"
