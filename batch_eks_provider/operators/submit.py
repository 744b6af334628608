"""The operator that submits an AWS Batch job to run on Amazon EKS and follows it to the end."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta
from typing import Any, Collection, Sequence

from airflow.sdk import BaseOperator

from ..exceptions import BatchEksError, BatchEksInvalidInputError, BatchEksWaitTimeoutError
from ..hooks.batch import BatchEksHook
from ..hooks.pods import BatchEksPodHook
from ..links.batch import LINKS_XCOM_KEY, BatchEksJobLink, BatchEksJobLogsLink, BatchEksJobQueueLink, link_details
from ..outcome import attempt_line, failure_error, job_outcome
from ..hooks.submit_request import build_submit_request, normalize_job_queues
from ..triggers.batch import BatchEksJobTrigger
from .identity import TASK_SUCCEEDED_TAG, TRY_NUMBER_TAG, can_reattach, identity_tags, try_number
from .request import as_float, as_int, as_list, build_spec
from .waiting import JobWatch, WaitDeadlineExceeded, default_deferrable, wait_for_job_end

__all__ = ["BatchEksSubmitJobOperator", "JOB_XCOM_KEY", "JOB_ID_XCOM_KEY", "job_summary"]

JOB_XCOM_KEY = "batch_job"
JOB_ID_XCOM_KEY = "batch_job_id"
KILL_REASON = "Terminated by Airflow: the task was killed"
WAIT_TIMEOUT_REASON = "Terminated by Airflow: the task stopped waiting (max_wait)"
_TRIGGER_FAIL = "__fail__"
_TRIGGER_TIMEOUT = "Trigger timeout"  # airflow.sdk.bases.operator.TriggerFailureReason.TRIGGER_TIMEOUT
LOG_READ_TIMEOUT = 60.0
"""Read timeout of the log stream: seconds without a line before the pod hook reopens the stream."""
CLOCK_SKEW_MS = 10 * 60 * 1000
"""How much older than its DAG run a job of this run may look (clocks of Airflow and AWS differ)."""


def job_summary(job: dict[str, Any]) -> dict[str, Any]:
    """What the operator pushes to XCom as ``batch_job``: the job and each of its EKS attempts."""
    attempts = []
    for number, attempt in enumerate(job.get("eksAttempts") or [], start=1):
        attempts.append(
            {
                "attempt": number,
                "pod_name": attempt.get("podName"),
                "node_name": attempt.get("nodeName"),
                "started_at": attempt.get("startedAt"),
                "stopped_at": attempt.get("stoppedAt"),
                "status_reason": attempt.get("statusReason"),
                "exit_codes": {c.get("name"): c.get("exitCode") for c in attempt.get("containers", [])},
                "line": attempt_line(number, attempt),
            }
        )
    return {
        "job_id": job["jobId"],
        "job_name": job.get("jobName"),
        "job_queue": job.get("jobQueue"),
        "status": job.get("status"),
        "status_reason": job.get("statusReason"),
        "attempts": attempts,
    }


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
    :param poll_interval: Seconds between DescribeJobs calls while waiting.
    :param max_wait: Stop waiting (terminate the job and fail the task) after this many seconds; None waits on.
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
        poll_interval: float | str = 5.0,
        max_wait: float | str | None = None,
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
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.kubernetes_conn_id = kubernetes_conn_id
        self.job_id: str | None = None
        self._pods: BatchEksPodHook | None = None
        self._stop_streams = threading.Event()
        self._streamed_to_the_end: set[str] = set()

    wait_clock = staticmethod(time.monotonic)
    """The clock of the sync wait (tests replace it on an instance)."""
    wait_sleep = staticmethod(time.sleep)
    """The sleep of the sync wait (tests replace it on an instance)."""

    def _exit_codes(self) -> frozenset[int]:
        value = self.permanent_exit_codes
        items = as_list("permanent_exit_codes", value) if isinstance(value, str) else list(value or ())
        return frozenset(as_int("permanent_exit_codes", code) for code in items if code not in (None, ""))

    def _poll_interval(self) -> float:
        value = as_float("poll_interval", self.poll_interval, minimum=0.0)
        if value is None or value <= 0:
            raise BatchEksInvalidInputError(
                "poll_interval", self.poll_interval, "must be more than 0 seconds (0 would describe the job in a tight loop)."
            )
        return value

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

    def _start_log_stream(self, job: dict[str, Any], streams: dict[str, threading.Thread]) -> None:
        """Copy the running pod's log lines into the task log from a background thread (one per pod)."""
        pod_name = ((job.get("eksProperties") or {}).get("podProperties") or {}).get("podName")
        if job.get("status") != "RUNNING" or not pod_name or pod_name in streams:
            return

        pods = self._pod_hook()

        def follow() -> None:
            try:
                # The hook reopens a stream quiet for a whole read timeout (a few times) and ends with the pod.
                for line in pods.stream_pod_logs(job, request_timeout=(10, LOG_READ_TIMEOUT)):
                    self.log.info("[%s] %s", pod_name, line)
                    if self._stop_streams.is_set():
                        return
                self._streamed_to_the_end.add(pod_name)  # the stream ended with the pod: nothing left to fetch
            except Exception as error:  # noqa: BLE001 - logs are best effort; the job's state decides the task
                self.log.warning("Stopped following the logs of pod %s: %s", pod_name, error)

        streams[pod_name] = threading.Thread(target=follow, name=f"logs:{pod_name}", daemon=True)
        streams[pod_name].start()

    def _fetch_attempt_logs(self, job: dict[str, Any], skip_pods: Collection[str] = ()) -> None:
        """Write the output of every attempt (except pods in ``skip_pods``, already streamed) into the task log."""
        if job.get("arrayProperties", {}).get("size"):
            return  # an array parent has no pod; its children have one each
        attempts = job.get("eksAttempts") or []
        if all(a.get("podName") in skip_pods for a in attempts):
            return
        pods = self._pod_hook()
        for index, attempt in enumerate(attempts):
            if attempt.get("podName") in skip_pods:
                continue
            try:
                logs = pods.fetch_attempt_logs(job, index)
            except Exception as error:  # noqa: BLE001 - logs are best effort; the job's state decides the task
                self.log.warning("Could not fetch the logs of attempt %d of AWS Batch job %s: %s", index + 1, job["jobId"], error)
                continue
            for line in logs.lines:
                self.log.info("[%s] %s", logs.pod_name, line)

    # -- execute ---------------------------------------------------------------------------------------------

    def execute(self, context: Any) -> str:
        identity = identity_tags(context)
        current_try = try_number(context)
        # The Airflow tags count against Batch's 50-tag limit: checked with them, before any call. A task that
        # does not wait succeeds once its job is submitted, so its job carries the success mark from the start
        # (no TagResource afterwards).
        system_tags = {**identity, TRY_NUMBER_TAG: str(current_try)}
        if not self.wait_for_completion:
            system_tags[TASK_SUCCEEDED_TAG] = str(current_try)
        spec = dataclasses.replace(
            build_spec({name: getattr(self, name) for name in self.template_fields}), system_tags=system_tags
        )
        queues = normalize_job_queues(spec.job_queue)
        offline = build_submit_request(dataclasses.replace(spec, job_queue=queues[0]))  # bad input fails before any call
        exit_codes, poll_interval, max_wait = self._exit_codes(), self._poll_interval(), self._max_wait()
        hook = self.hook
        # Any try may find a job of this task instance: a worker killed mid-job can be run again with the same
        # try number. The queue names come from the remembered facts (ListJobs fails on a missing queue).
        known = hook.known_queue_names(queues)
        existing = (
            hook.find_job_by_tags(known, identity, job_name=offline["jobName"], created_after_ms=_run_start_ms(context))
            if known
            else None
        )
        if existing is not None and not can_reattach(existing, current_try):
            self.log.info(
                "AWS Batch job %s (%s) of an earlier try is %s and that try succeeded: submitting a new job",
                offline["jobName"], existing["jobId"], existing["status"],
            )
            existing = None
        if existing is not None:
            self.job_id = existing["jobId"]
            self._job_arn = existing.get("jobArn")
            queue = existing["jobQueue"].rsplit("/", 1)[-1]
            self.log.info(
                "Re-attaching to AWS Batch job %s (%s), %s, submitted earlier for this task instance; not submitting again",
                offline["jobName"], self.job_id, existing["status"],
            )
        else:
            request, report = hook.prepare_submit_request(spec, request=offline)  # definition, queue fallback, fit, fair share
            queue = report.name
            submitted = hook.submit_job(**request)
            self.job_id = submitted["jobId"]
            self._job_arn = submitted.get("jobArn")
            self.log.info("Submitted AWS Batch job %s (%s) to queue %s", request["jobName"], self.job_id, queue)
        context["ti"].xcom_push(key=JOB_ID_XCOM_KEY, value=self.job_id)
        self._push_links(context, hook, queue)
        if not self.wait_for_completion:
            if existing is not None:
                self._mark_succeeded(hook, current_try)  # a re-attached job lacks this try's mark
            return self.job_id
        if self.deferrable:
            self.defer(
                trigger=BatchEksJobTrigger(
                    job_id=self.job_id,
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    poll_interval=poll_interval,
                    terminate_on_kill=True,
                ),
                method_name="execute_complete",
                kwargs={"job_id": self.job_id},
                timeout=timedelta(seconds=max_wait) if max_wait else None,
            )
        return self._finish(context, hook, self._wait(hook, poll_interval, max_wait), exit_codes)

    def _wait(self, hook: BatchEksHook, poll_interval: float, max_wait: float | None) -> dict[str, Any]:
        """Poll until the job ends, logging each attempt as it appears and streaming pod logs.

        Bounded by ``max_wait``, else by ``execution_timeout``: past it the job is terminated and
        :class:`~batch_eks_provider.exceptions.BatchEksWaitTimeoutError` raised.
        """
        execution_timeout = self.execution_timeout.total_seconds() if self.execution_timeout else None
        deadline = max_wait or execution_timeout
        streams: dict[str, threading.Thread] = {}
        self._stop_streams.clear()
        try:
            job = wait_for_job_end(
                lambda: hook.describe_job(self.job_id),
                JobWatch(self.job_id, self.log),
                poll_interval=poll_interval,
                deadline_seconds=deadline,
                clock=self.wait_clock,
                sleep=self.wait_sleep,
                on_running=lambda running: self._start_log_stream(running, streams),
            )
        except WaitDeadlineExceeded as exceeded:
            hook.terminate_job(self.job_id, WAIT_TIMEOUT_REASON)
            which = f"max_wait={max_wait}s" if max_wait else f"execution_timeout={execution_timeout}s"
            raise BatchEksWaitTimeoutError(
                f"AWS Batch job {exceeded.job.get('jobName')} ({self.job_id}) still {exceeded.job.get('status')} after "
                f"{which}; the job was terminated."
            ) from None
        finally:
            for stream in streams.values():  # an ended pod ends its stream: let it write its last lines
                stream.join(timeout=5)
            self._stop_streams.set()
        # attempts too short to be seen running, and streams cut before their pod's end (their lines may repeat)
        self._fetch_attempt_logs(job, skip_pods=self._streamed_to_the_end)
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
        if outcome.status != "SUCCEEDED":
            raise failure_error(outcome, exit_codes)
        self.log.info("AWS Batch job %s (%s) SUCCEEDED after %d attempt(s)", job.get("jobName"), self.job_id, outcome.attempts)
        self._job_arn = job.get("jobArn")
        self._mark_succeeded(hook, try_number(context))
        return self.job_id

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None, job_id: str | None = None) -> str:
        """Resume after the trigger fired: read the job once, fetch its logs, report like sync mode."""
        self.job_id = job_id or (event or {}).get("job_id")
        hook = self.hook
        if not event or event.get("status") == "error":
            message = (event or {}).get("message") or f"Waiting on AWS Batch job {self.job_id} failed."
            self._abandon(context, hook, message)
            raise BatchEksError(message)
        job = hook.describe_job(self.job_id)
        JobWatch(self.job_id, self.log).check(job)
        self._fetch_attempt_logs(job)
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



def _run_start_ms(context: Any) -> int | None:
    """The DAG run's ``run_after`` in epoch ms (less :data:`CLOCK_SKEW_MS`): no job of this run is older."""
    run_after = getattr(context.get("dag_run") if hasattr(context, "get") else None, "run_after", None)
    if run_after is None:
        return None
    return int(run_after.timestamp() * 1000) - CLOCK_SKEW_MS
