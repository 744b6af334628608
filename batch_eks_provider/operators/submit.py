"""The operator that submits an AWS Batch job to run on Amazon EKS and follows it to the end."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta
from typing import Any, Collection, Sequence

from airflow.sdk import BaseOperator

from ..exceptions import (
    BatchEksError,
    BatchEksInvalidInputError,
    BatchEksJobStuckError,
    BatchEksWaitTimeoutError,
)
from ..hooks.batch import BatchEksHook
from ..hooks.pods import BatchEksPodHook
from ..hooks.submit_request import SubmitRequestSpec, build_submit_request, normalize_job_queues
from ..links.batch import LINKS_XCOM_KEY, BatchEksJobLink, BatchEksJobLogsLink, BatchEksJobQueueLink, link_details
from ..outcome import failure_error, job_outcome
from ..triggers.batch import BatchEksJobTrigger
from ..waiting.explain import HookFacts, WaitExplainer
from ..waiting.policy import DEFAULT_EXPLAIN_AFTER, default_deferrable, missing_job_error, poll_interval_seconds
from ..waiting.rules import StatusTimer, Verdict, WaitRules, verdict
from ..waiting.watch import JobWatch, StopWaiting, WaitDeadlineExceeded, wait_for_job_end
from .array_report import array_report, is_array_parent, settle_array
from .identity import TASK_SUCCEEDED_TAG, TRY_NUMBER_TAG, identity_tags, try_number
from .reattach import earlier_job
from .queue_moves import move_target, short_name
from .request import as_float, as_int, as_list, build_spec
from .summary import ARRAY_XCOM_KEY, JOB_ID_XCOM_KEY, JOB_XCOM_KEY, JOBS_XCOM_KEY, job_summary
from .task_logs import PodLogCopier

__all__ = ["BatchEksSubmitJobOperator", "JOB_XCOM_KEY", "JOB_ID_XCOM_KEY", "JOBS_XCOM_KEY", "ARRAY_XCOM_KEY", "job_summary"]

KILL_REASON = "Terminated by Airflow: the task was killed"
WAIT_TIMEOUT_REASON = "Terminated by Airflow: the task stopped waiting (max_wait)"
_TRIGGER_FAIL = "__fail__"
_TRIGGER_TIMEOUT = "Trigger timeout"  # airflow.sdk.bases.operator.TriggerFailureReason.TRIGGER_TIMEOUT


class BatchEksSubmitJobOperator(BaseOperator):
    """Submit an AWS Batch job that runs on Amazon EKS, and (by default) wait until it ends.

    The job's id is the task's return value, so a downstream operator can take ``task.output`` as its
    ``depends_on`` (Batch-native ``dependsOn``: with ``wait_for_completion=False`` upstream a whole chain
    is submitted at once and no worker slot is held while it runs).

    :param job_name: Batch job name (letters, digits, ``-`` and ``_``; at most 128 characters).
    :param job_queue: Job queue name or ARN, or an ordered list: the first queue that is ENABLED/VALID and
        has a usable compute environment takes the job.
    :param job_definition: Job definition ``name``, ``name:revision`` or ARN.
    :param command: The first container's command: a list, or a string (a list literal, or split like a shell).
    :param args: The first container's args (same forms as ``command``).
    :param env: Environment variables added to the first container.
    :param cpu: vCPUs of the first container, e.g. ``"0.5"`` or ``2`` (no millicores).
    :param memory: Memory of the first container in MiB with the ``Mi`` suffix, e.g. ``"2048Mi"``.
    :param gpus: ``nvidia.com/gpu`` of the first container.
    :param eks_properties_override: Raw ``eksPropertiesOverride``; the shorthands above are laid over its first container.
    :param depends_on: Job ids, upstream task outputs, or ``{"jobId", "type"}`` mappings (at most 20).
    :param array_size: Run an array job of this many children (2..10000).
    :param retry_strategy: A :class:`~batch_eks_provider.retry_strategy.RetryStrategy` or a ``retryStrategy`` dict.
    :param timeout: Seconds (or a ``timedelta``) an attempt may run (``attemptDurationSeconds``, at least 60).
    :param share_identifier: Fair-share identifier (required by a queue with a scheduling policy).
    :param scheduling_priority: ``schedulingPriorityOverride`` (0..9999) for a fair-share queue.
    :param tags: Tags of the job; the Airflow identity tags (``airflow:dag_id`` ...) are added.
    :param parameters: Job definition parameter substitutions.
    :param permanent_exit_codes: Exit codes that fail the task without Airflow retries.
    :param wait_for_completion: Wait until the job ends (default True); False returns once submitted.
    :param deferrable: Wait in the triggerer instead of a worker slot (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between DescribeJobs calls while waiting (default
        ``[batch_eks] default_poll_interval``, 5; at least :data:`~batch_eks_provider.waiting.policy.MIN_POLL_INTERVAL`).
    :param max_wait: Stop waiting (terminate the job and fail the task) after this many seconds; None waits on.
    :param explain_after: Seconds a job may wait in PENDING, RUNNABLE or STARTING before the task log says why
        (upstream jobs, the queue's blocked reason, DISABLED/INVALID/full compute environments, the job's place in
        the queue, its pod's state), then again at a bounded rate; None: never.
    :param on_stuck: What to do with a job stuck in RUNNABLE or STARTING for ``stuck_after`` seconds, or that can
        never start on its queue: None (wait on), ``"fail"`` (cancel it, fail the task with the reason, no
        retry), ``"next_queue"`` (cancel it and submit to the next queue of ``job_queue``, once).
    :param stuck_after: Seconds in RUNNABLE or STARTING that make a job stuck (with ``on_stuck``).
    :param spot_fallback_queue: The (on-demand) queue the work moves to after ``max_spot_reclaims`` Spot
        reclaims; default the next queue of ``job_queue``.
    :param max_spot_reclaims: Spot reclaims of one job after which it is stopped and submitted to the fallback
        queue (in the same task try). A task retried after its job failed on Spot also goes there.
    :param allowed_failures: For an array job: the task succeeds when at most this many children failed
        (Batch fails the parent on the first failed child), naming them.
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region, default the connection's.
    :param kubernetes_conn_id: A ``cncf.kubernetes`` connection (in-cluster or a kubeconfig) for reading pods and
        their logs; None (default) reaches the cluster through EKS ``DescribeCluster`` and an EKS token.

    .. seealso:: https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html
    """

    template_fields: Sequence[str] = (
        "job_name",
        "job_queue",
        "job_definition",
        "command",
        "args",
        "env",
        "cpu",
        "memory",
        "gpus",
        "eks_properties_override",
        "depends_on",
        "array_size",
        "retry_strategy",
        "timeout",
        "share_identifier",
        "scheduling_priority",
        "tags",
        "parameters",
        "permanent_exit_codes",
        "poll_interval",
        "max_wait",
        "explain_after",
        "on_stuck",
        "stuck_after",
        "spot_fallback_queue",
        "max_spot_reclaims",
        "allowed_failures",
        "aws_conn_id",
        "region_name",
        "kubernetes_conn_id",
    )
    template_fields_renderers = {"command": "py", "args": "py", "env": "json", "eks_properties_override": "json"}
    ui_color = "#ff9900"
    operator_extra_links = (BatchEksJobLink(), BatchEksJobQueueLink(), BatchEksJobLogsLink())

    def __init__(
        self,
        *,
        job_name: str,
        job_queue: str | list[str],
        job_definition: str,
        command: list[str] | str | None = None,
        args: list[str] | str | None = None,
        env: dict[str, str] | str | None = None,
        cpu: str | float | int | None = None,
        memory: str | None = None,
        gpus: int | str | None = None,
        eks_properties_override: dict[str, Any] | None = None,
        depends_on: Any = None,
        array_size: int | str | None = None,
        retry_strategy: Any = None,
        timeout: int | timedelta | None = None,
        share_identifier: str | None = None,
        scheduling_priority: int | str | None = None,
        tags: dict[str, str] | None = None,
        parameters: dict[str, str] | None = None,
        permanent_exit_codes: Sequence[int] | str = (),
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float | str | None = None,
        max_wait: float | str | None = None,
        explain_after: float | str | None = DEFAULT_EXPLAIN_AFTER,
        on_stuck: str | None = None,
        stuck_after: float | str | None = None,
        spot_fallback_queue: str | None = None,
        max_spot_reclaims: int | str | None = None,
        allowed_failures: int | str | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        kubernetes_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.job_queue = job_queue
        self.job_definition = job_definition
        self.command = command
        self.args = args
        self.env = env
        self.cpu = cpu
        self.memory = memory
        self.gpus = gpus
        self.eks_properties_override = eks_properties_override
        self.depends_on = depends_on
        self.array_size = array_size
        self.retry_strategy = retry_strategy
        self.timeout = timeout
        self.share_identifier = share_identifier
        self.scheduling_priority = scheduling_priority
        self.tags = tags
        self.parameters = parameters
        self.permanent_exit_codes = permanent_exit_codes  # converted in execute(): it may be a template
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.explain_after = explain_after
        self.on_stuck = on_stuck
        self.stuck_after = stuck_after
        self.spot_fallback_queue = spot_fallback_queue
        self.max_spot_reclaims = max_spot_reclaims
        self.allowed_failures = allowed_failures
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.kubernetes_conn_id = kubernetes_conn_id
        self.job_id: str | None = None
        self._pods: BatchEksPodHook | None = None
        self._log_copier: PodLogCopier | None = None

    wait_clock = staticmethod(time.monotonic)
    """The clock of the sync wait (tests replace it on an instance)."""
    wait_sleep = staticmethod(time.sleep)
    """The sleep of the sync wait (tests replace it on an instance)."""

    def _exit_codes(self) -> frozenset[int]:
        value = self.permanent_exit_codes
        items = as_list("permanent_exit_codes", value) if isinstance(value, str) else list(value or ())
        return frozenset(as_int("permanent_exit_codes", code) for code in items if code not in (None, ""))

    def _poll_interval(self) -> float:
        return poll_interval_seconds(self.poll_interval)

    def _wait_rules(self, queues: list[str]) -> WaitRules:
        rules = WaitRules.parse(
            explain_after=self.explain_after,
            on_stuck=self.on_stuck,
            stuck_after=self.stuck_after,
            max_spot_reclaims=self.max_spot_reclaims,
        )
        if rules.max_spot_reclaims and not (self.spot_fallback_queue or len(queues) > 1):
            raise BatchEksInvalidInputError(
                "max_spot_reclaims", self.max_spot_reclaims, "needs a queue to fall back to: spot_fallback_queue, or a second queue in job_queue."
            )
        if rules.on_stuck == "next_queue" and len(queues) < 2:
            raise BatchEksInvalidInputError("on_stuck", rules.on_stuck, "needs a second queue in job_queue to move the job to.")
        return rules

    def _allowed_failures(self) -> int:
        return as_int("allowed_failures", self.allowed_failures) or 0

    def _max_wait(self) -> float | None:
        return as_float("max_wait", self.max_wait, minimum=0.0) or None

    # -- the hook and the calls to other lanes' APIs, kept in one place -------------------------------------

    @property
    def hook(self) -> BatchEksHook:
        return BatchEksHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    def _pod_hook(self) -> BatchEksPodHook:
        """One pod hook per task (its EKS token and Kubernetes client are shared by every log thread)."""
        if self._pods is None:
            self._pods = BatchEksPodHook(
                aws_conn_id=self.aws_conn_id, region_name=self.region_name, kubernetes_conn_id=self.kubernetes_conn_id
            )
        return self._pods

    def _logs(self) -> PodLogCopier:
        if getattr(self, "_log_copier", None) is None:
            self._log_copier = PodLogCopier(self._pod_hook, self.log)
        return self._log_copier

    def _fetch_attempt_logs(self, job: dict[str, Any], skip_pods: Collection[str] = (), label: str | None = None) -> None:
        self._logs().fetch(job, skip_pods, label)

    # -- execute ---------------------------------------------------------------------------------------------

    def _spec_of(self, context: Any) -> SubmitRequestSpec:
        """The submission the rendered fields describe, with this task instance's identity and try tags.

        The Airflow tags count against Batch's 50-tag limit: checked with them, before any call. A task that does
        not wait succeeds once its job is submitted, so its job carries the success mark from the start (no
        TagResource afterwards).
        """
        current_try = try_number(context)
        system_tags = {**identity_tags(context), TRY_NUMBER_TAG: str(current_try)}
        if not self.wait_for_completion:
            system_tags[TASK_SUCCEEDED_TAG] = str(current_try)
        return dataclasses.replace(build_spec({name: getattr(self, name) for name in self.template_fields}), system_tags=system_tags)

    def execute(self, context: Any) -> str:
        spec = self._spec_of(context)
        queues = normalize_job_queues(spec.job_queue)
        offline = build_submit_request(dataclasses.replace(spec, job_queue=queues[0]))  # bad input fails before any call
        exit_codes, poll_interval, max_wait = self._exit_codes(), self._poll_interval(), self._max_wait()
        rules = self._wait_rules(queues)
        self._allowed_failures()
        hook = self.hook
        earlier = earlier_job(
            hook, context, job_name=offline["jobName"], queues=queues, spot_fallback_queue=self.spot_fallback_queue,
            max_spot_reclaims=rules.max_spot_reclaims, log=self.log,
        )
        existing, submit_to = earlier.job, earlier.submit_to
        if earlier.moved_to_fallback:
            rules = rules.after_redirect()
        if existing is not None:
            self.job_id = existing["jobId"]
            self._job_arn = existing.get("jobArn")
            queue = existing["jobQueue"].rsplit("/", 1)[-1]
            self.log.info(
                "Re-attaching to AWS Batch job %s (%s), %s, submitted earlier for this task instance; not submitting again",
                offline["jobName"], self.job_id, existing["status"],
            )
            self._record_job(context, queue, None, reset=True)
        else:
            queue = self._submit(context, hook, spec, submit_to, None if earlier.moved_to_fallback else offline, reason=None)
        self._push_links(context, hook, queue)
        if not self.wait_for_completion:
            if existing is not None:
                self._mark_succeeded(hook, try_number(context))  # a re-attached job lacks this try's mark
            return self.job_id
        if self.deferrable:
            self._defer(poll_interval, max_wait, rules, queues)
        while True:
            try:
                job = self._wait(hook, poll_interval, max_wait, rules)
            except StopWaiting as stop:
                self._act_on(context, hook, stop.value[0], stop.value[1], queues)
                rules = rules.after_redirect()
                continue
            return self._finish(context, hook, job, exit_codes)

    def _submit(
        self, context: Any, hook: BatchEksHook, spec: SubmitRequestSpec, queues: list[str], offline: dict[str, Any] | None, *, reason: str | None
    ) -> str:
        """Check and send one SubmitJob to the first usable of ``queues``; record the job; return its queue."""
        spec = dataclasses.replace(spec, job_queue=queues)
        request, report = hook.prepare_submit_request(spec, request=offline)  # definition, queue fallback, fit, fair share
        submitted = hook.submit_job(**request)
        self.job_id = submitted["jobId"]
        self._job_arn = submitted.get("jobArn")
        self.log.info("Submitted AWS Batch job %s (%s) to queue %s", request["jobName"], self.job_id, report.name)
        self._record_job(context, report.name, reason, reset=reason is None)
        return report.name

    def _record_job(self, context: Any, queue: str, reason: str | None, *, reset: bool) -> None:
        """Push the job id (the task's current job) and the list of every job this try submitted."""
        if reset or not hasattr(self, "_jobs"):
            self._jobs: list[dict[str, Any]] = []
        if self._jobs and reason:
            self._jobs[-1]["replaced_because"] = reason
        self._jobs.append({"job_id": self.job_id, "job_queue": queue, "replaced_because": None})
        context["ti"].xcom_push(key=JOB_ID_XCOM_KEY, value=self.job_id)
        context["ti"].xcom_push(key=JOBS_XCOM_KEY, value=self._jobs)

    def _act_on(self, context: Any, hook: BatchEksHook, stop: Verdict, job: dict[str, Any], queues: list[str]) -> None:
        """Stop a stuck or reclaimed job: fail the task (``on_stuck="fail"``, or nowhere to go), or submit the work
        to another queue and keep waiting (this task try, logged, every job id in XCom)."""
        name, current = job.get("jobName"), short_name(job.get("jobQueue"))
        target = move_target(
            stop, job, queues, on_stuck=self.on_stuck, spot_fallback_queue=self.spot_fallback_queue,
            moved_before=getattr(self, "_redirected", False),
        )
        if target is None:
            hook.terminate_job(job["jobId"], f"Terminated by Airflow: stuck ({stop.reason})"[:1000])
            raise BatchEksJobStuckError(
                f"AWS Batch job {name} ({job['jobId']}) on queue {current} is stuck: {stop.reason}; the job was cancelled.",
                job_id=job["jobId"], status=stop.status, reason=stop.reason,
            )
        self.log.warning(
            "AWS Batch job %s (%s) on queue %s: %s. Stopping it and submitting the work to queue %s",
            name, job["jobId"], current, stop.reason, short_name(target),
        )
        if job.get("status") not in ("SUCCEEDED", "FAILED"):
            hook.terminate_job(job["jobId"], f"Terminated by Airflow: moved to queue {short_name(target)} ({stop.reason})"[:1000])
        spec = self._spec_of(context)  # the same identity and try tags: a retry finds the new job
        self._redirected = True
        self._submit(context, hook, spec, [target], None, reason=stop.reason)

    def _defer(self, poll_interval: float, max_wait: float | None, rules: WaitRules, queues: list[str]) -> None:
        self.defer(
            trigger=BatchEksJobTrigger(
                job_id=self.job_id,
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                poll_interval=poll_interval,
                terminate_on_kill=True,
                rules=rules.to_dict(),
                kubernetes_conn_id=self.kubernetes_conn_id,
            ),
            method_name="execute_complete",
            kwargs={"job_id": self.job_id, "jobs": self._jobs, "redirected": getattr(self, "_redirected", False)},
            timeout=timedelta(seconds=max_wait) if max_wait else None,
        )

    def _wait(self, hook: BatchEksHook, poll_interval: float, max_wait: float | None, rules: WaitRules) -> dict[str, Any]:
        """Poll until the job ends, logging each attempt as it appears, streaming pod logs, saying why it waits.

        Bounded by ``max_wait``, else by ``execution_timeout``: past it the job is terminated and
        :class:`~batch_eks_provider.exceptions.BatchEksWaitTimeoutError` raised.

        :raises StopWaiting: the rules gave a verdict (``value``: the verdict and the job's entry).
        """
        execution_timeout = self.execution_timeout.total_seconds() if self.execution_timeout else None
        deadline = max_wait or execution_timeout
        logs = self._logs()
        timer = StatusTimer(self.wait_clock)
        explainer = WaitExplainer(rules.explain_after, HookFacts(lambda: hook, self._pod_hook), clock=self.wait_clock)

        def on_active(job: dict[str, Any]) -> None:
            waited = timer.observe(job)
            stop = verdict(rules, job, waited)
            if stop is not None:
                raise StopWaiting((stop, job))
            line = explainer.line(job, waited)
            if line:
                self.log.info("%s", line)
            logs.follow(job)

        try:
            job = wait_for_job_end(
                lambda: hook.describe_job(self.job_id),
                JobWatch(self.job_id, self.log),
                poll_interval=poll_interval,
                deadline_seconds=deadline,
                clock=self.wait_clock,
                sleep=self.wait_sleep,
                on_active=on_active,
            )
        except WaitDeadlineExceeded as exceeded:
            hook.terminate_job(self.job_id, WAIT_TIMEOUT_REASON)
            which = f"max_wait={max_wait}s" if max_wait else f"execution_timeout={execution_timeout}s"
            raise BatchEksWaitTimeoutError(
                f"AWS Batch job {exceeded.job.get('jobName')} ({self.job_id}) still {exceeded.job.get('status')} after "
                f"{which}; the job was terminated."
            ) from None
        finally:
            logs.stop()  # an ended pod ends its stream: let it write its last lines
        logs.fetch_unseen(job)  # attempts too short to be seen running, streams cut before their pod's end
        stop = verdict(rules, job, 0.0)  # an ended job: Spot reclaims that failed it may still move the work
        if stop is not None:
            raise StopWaiting((stop, job))
        return job

    def _mark_succeeded(self, hook: BatchEksHook, current_try: int) -> None:
        """Tag the job as the work of a try that succeeded: clearing the task later submits a new job."""
        arn = getattr(self, "_job_arn", None)
        if not arn:
            job = hook.describe_job(self.job_id)
            arn = job.get("jobArn") if job else None
        if not arn:
            return
        try:
            hook.tag_job(arn, {TASK_SUCCEEDED_TAG: str(current_try)})
        except Exception as error:  # noqa: BLE001 - the task succeeded; a missing mark only means a re-run re-attaches
            self.log.warning("Could not tag AWS Batch job %s as done by this task: %s", self.job_id, error)

    def _push_links(self, context: Any, hook: BatchEksHook, queue: str, pod_name: str | None = None) -> None:
        details = link_details(
            job_id=self.job_id,
            job_queue=queue,
            region_name=hook.conn_region_name,
            endpoint_url=hook.conn_config.endpoint_url,
            pod_name=pod_name,
        )
        context["ti"].xcom_push(key=LINKS_XCOM_KEY, value=details)

    def _finish(self, context: Any, hook: BatchEksHook, job: dict[str, Any], exit_codes: frozenset[int]) -> str:
        """Push the job summary to XCom; return the job id, or raise the typed error of its failure."""
        summary = job_summary(job)
        context["ti"].xcom_push(key=JOB_XCOM_KEY, value=summary)
        if summary["attempts"]:
            self._push_links(context, hook, (job.get("jobQueue") or "").rsplit("/", 1)[-1], summary["attempts"][-1]["pod_name"])
        outcome = job_outcome(job)
        if is_array_parent(job):
            self._report_array(context, hook, job)
        elif outcome.status != "SUCCEEDED":
            raise failure_error(outcome, exit_codes)
        else:
            self.log.info("AWS Batch job %s (%s) SUCCEEDED after %d attempt(s)", job.get("jobName"), self.job_id, outcome.attempts)
        self._job_arn = job.get("jobArn")
        self._mark_succeeded(hook, try_number(context))
        return self.job_id

    def _report_array(self, context: Any, hook: BatchEksHook, job: dict[str, Any]) -> None:
        """Log an ended array job child by child and push its table; raise past ``allowed_failures``."""
        report = array_report(hook, job)
        context["ti"].xcom_push(key=ARRAY_XCOM_KEY, value=report.to_xcom())
        settle_array(report, job, self._allowed_failures(), self.log, self._fetch_attempt_logs)

    def execute_complete(
        self,
        context: Any,
        event: dict[str, Any] | None = None,
        job_id: str | None = None,
        jobs: list[dict[str, Any]] | None = None,
        redirected: bool = False,
    ) -> str:
        """Resume after the trigger fired: read the job once, fetch its logs, report like sync mode; a verdict
        (stuck, Spot reclaims) is acted on as in sync mode, and a job moved to another queue is deferred on again."""
        self.job_id = job_id or (event or {}).get("job_id")
        if jobs is None:  # a runner that hands back only the event (dag.test()): the list is in XCom
            ti = context["ti"]
            jobs = ti.xcom_pull(task_ids=self.task_id, key=JOBS_XCOM_KEY, map_indexes=getattr(ti, "map_index", -1))
        self._jobs = list(jobs or [])
        self._redirected = redirected or len(self._jobs) > 1
        hook = self.hook
        if not event or event.get("status") == "error":
            message = (event or {}).get("message") or f"Waiting on AWS Batch job {self.job_id} failed."
            self._abandon(context, hook, message)
            raise BatchEksError(message)
        job = hook.describe_job(self.job_id)
        JobWatch(self.job_id, self.log).check(job)
        self._fetch_attempt_logs(job)
        if job is None:
            raise missing_job_error(self.job_id, 1)
        queues = normalize_job_queues(self._spec_of(context).job_queue)
        rules = self._wait_rules(queues)
        rules = rules.after_redirect() if redirected else rules
        stop = Verdict.from_dict(event["verdict"]) if event.get("status") == "stop" else verdict(rules, job, 0.0)
        if stop is not None:
            self._act_on(context, hook, stop, job, queues)
            self._defer(self._poll_interval(), self._max_wait(), rules.after_redirect(), queues)
        return self._finish(context, hook, job, self._exit_codes())

    def _abandon(self, context: Any, hook: BatchEksHook, message: str) -> None:
        """The wait failed without the job's end: on the last try terminate the job (no later try will collect
        it); with retries left, leave it running for the next try to re-attach to."""
        ti = context["ti"]
        last_try = try_number(context) > (self.retries or 0)
        if not last_try:
            self.log.warning(
                "Waiting on AWS Batch job %s failed (%s); it keeps running and the next try re-attaches to it", self.job_id, message
            )
            return
        self.log.error("Waiting on AWS Batch job %s failed on the last try (%s): terminating the job", self.job_id, message)
        try:
            hook.terminate_job(self.job_id, f"Terminated by Airflow: waiting failed on the last try of {ti.task_id}")
        except Exception as error:  # noqa: BLE001 - the task fails either way; say the job may still run
            self.log.error("Could not terminate AWS Batch job %s, it may still be running: %s", self.job_id, error)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any):
        """On a deferral that timed out (``max_wait``), terminate the job before failing.

        Other ``__fail__`` reasons (the trigger crashed, the task could not be resumed) leave the job running:
        a retry re-attaches to it.
        """
        if next_method == _TRIGGER_FAIL and (next_kwargs or {}).get("error") == _TRIGGER_TIMEOUT:
            job_id = context["ti"].xcom_pull(task_ids=self.task_id, key=JOB_ID_XCOM_KEY, map_indexes=context["ti"].map_index)
            if job_id:
                self.log.info("Terminating AWS Batch job %s: the deferred wait timed out (max_wait)", job_id)
                self.hook.terminate_job(job_id, WAIT_TIMEOUT_REASON)
        return super().resume_execution(next_method, next_kwargs, context)

    def on_kill(self) -> None:
        """Terminate the Batch job when the task is killed (marked failed, cleared, timed out)."""
        if self.job_id:
            self.log.info("Terminating AWS Batch job %s: %s", self.job_id, KILL_REASON)
            self.hook.terminate_job(self.job_id, KILL_REASON)


