"""The operator that submits an AWS Batch job to run on Amazon EKS and follows it to the end."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta
from typing import Any, Collection, Sequence

from airflow.sdk import BaseOperator

from ..exceptions import BatchEksError, BatchEksWaitTimeoutError
from ..hooks.batch import BatchEksHook
from ..hooks.pods import BatchEksPodHook
from ..links.batch import LINKS_XCOM_KEY, BatchEksJobLink, BatchEksJobLogsLink, BatchEksJobQueueLink, link_details
from ..outcome import attempt_line, failure_error, job_outcome
from ..submit_request import build_submit_request, normalize_job_queues
from ..triggers.batch import BatchEksJobTrigger
from .identity import identity_tags
from .request import build_spec

__all__ = ["BatchEksSubmitJobOperator", "JOB_XCOM_KEY", "JOB_ID_XCOM_KEY", "job_summary"]

JOB_XCOM_KEY = "batch_job"
JOB_ID_XCOM_KEY = "batch_job_id"
KILL_REASON = "Terminated by Airflow: the task was killed"
WAIT_TIMEOUT_REASON = "Terminated by Airflow: the task stopped waiting (max_wait)"
_TRIGGER_FAIL = "__fail__"


def _default_deferrable() -> bool:
    from airflow.configuration import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


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
    :param retry_strategy: A :class:`~batch_eks_provider.retry.RetryStrategy` or a ``retryStrategy`` dict.
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
        permanent_exit_codes: Sequence[int] = (),
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float = 5.0,
        max_wait: float | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
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
        self.permanent_exit_codes = frozenset(int(code) for code in permanent_exit_codes)
        self.wait_for_completion = wait_for_completion
        self.deferrable = _default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.job_id: str | None = None

    # -- the hook and the calls to other lanes' APIs, kept in one place -------------------------------------

    @property
    def hook(self) -> BatchEksHook:
        return BatchEksHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    def _pod_hook(self) -> BatchEksPodHook:
        return BatchEksPodHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    def _start_log_stream(self, job: dict[str, Any], streams: dict[str, threading.Thread]) -> None:
        """Copy the running pod's log lines into the task log from a background thread (one per pod)."""
        pod_name = ((job.get("eksProperties") or {}).get("podProperties") or {}).get("podName")
        if job.get("status") != "RUNNING" or not pod_name or pod_name in streams:
            return

        def follow() -> None:
            try:
                for line in self._pod_hook().stream_pod_logs(job):
                    self.log.info("[%s] %s", pod_name, line)
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
        spec = build_spec({name: getattr(self, name) for name in self.template_fields})
        queues = normalize_job_queues(spec.job_queue)
        offline = build_submit_request(dataclasses.replace(spec, job_queue=queues[0]))  # bad input fails before any call
        hook = self.hook
        identity = identity_tags(context)
        known = [q["jobQueueName"] for q in hook.describe_job_queues(queues)]  # ListJobs fails on a missing queue
        existing = hook.find_job_by_tags(known, identity, job_name=offline["jobName"]) if known else None
        if existing is not None:
            self.job_id = existing["jobId"]
            queue = existing["jobQueue"].rsplit("/", 1)[-1]
            self.log.info(
                "Re-attaching to AWS Batch job %s (%s), %s, submitted earlier for this task instance; not submitting again",
                offline["jobName"], self.job_id, existing["status"],
            )
        else:
            request, report = hook.prepare_submit_request(spec)  # definition, queue fallback, fit, fair share
            request["tags"] = {**request.get("tags", {}), **identity}
            queue = report.name
            self.job_id = hook.submit_job(**request)["jobId"]
            self.log.info("Submitted AWS Batch job %s (%s) to queue %s", request["jobName"], self.job_id, queue)
        context["ti"].xcom_push(key=JOB_ID_XCOM_KEY, value=self.job_id)
        self._push_links(context, hook, queue)
        if not self.wait_for_completion:
            return self.job_id
        if self.deferrable:
            self.defer(
                trigger=BatchEksJobTrigger(
                    job_id=self.job_id, aws_conn_id=self.aws_conn_id, region_name=self.region_name, poll_interval=self.poll_interval
                ),
                method_name="execute_complete",
                kwargs={"job_id": self.job_id},
                timeout=timedelta(seconds=self.max_wait) if self.max_wait else None,
            )
        return self._finish(context, hook, self._wait(hook))

    def _wait(self, hook: BatchEksHook) -> dict[str, Any]:
        """Poll until the job ends, logging each attempt as it appears and streaming pod logs."""
        deadline = time.monotonic() + self.max_wait if self.max_wait else None
        logged = 0
        streams: dict[str, threading.Thread] = {}
        try:
            job = self._poll(hook, deadline, logged, streams)
        finally:
            for stream in streams.values():
                stream.join(timeout=5)
        self._fetch_attempt_logs(job, skip_pods=streams)  # attempts too short to be seen running
        return job

    def _poll(self, hook: BatchEksHook, deadline: float | None, logged: int, streams: dict[str, threading.Thread]) -> dict[str, Any]:
        while True:
            job = hook.describe_job(self.job_id)
            if job is None:
                raise BatchEksError(f"AWS Batch job {self.job_id} does not exist (any more).")
            attempts = job.get("eksAttempts") or []
            for number in range(logged + 1, len(attempts) + 1):
                self.log.info("AWS Batch job %s %s", self.job_id, attempt_line(number, attempts[number - 1]))
            logged = len(attempts)
            if job_outcome(job).done:
                return job
            self._start_log_stream(job, streams)
            if deadline is not None and time.monotonic() >= deadline:
                hook.terminate_job(self.job_id, WAIT_TIMEOUT_REASON)
                raise BatchEksWaitTimeoutError(
                    f"AWS Batch job {job.get('jobName')} ({self.job_id}) still {job['status']} after max_wait="
                    f"{self.max_wait}s; the job was terminated."
                )
            time.sleep(self.poll_interval)

    def _push_links(self, context: Any, hook: BatchEksHook, queue: str, pod_name: str | None = None) -> None:
        details = link_details(
            job_id=self.job_id,
            job_queue=queue,
            region_name=hook.conn_region_name,
            endpoint_url=hook.conn_config.endpoint_url,
            pod_name=pod_name,
        )
        context["ti"].xcom_push(key=LINKS_XCOM_KEY, value=details)

    def _finish(self, context: Any, hook: BatchEksHook, job: dict[str, Any]) -> str:
        """Push the job summary to XCom; return the job id, or raise the typed error of its failure."""
        summary = job_summary(job)
        context["ti"].xcom_push(key=JOB_XCOM_KEY, value=summary)
        if summary["attempts"]:
            self._push_links(context, hook, (job.get("jobQueue") or "").rsplit("/", 1)[-1], summary["attempts"][-1]["pod_name"])
        outcome = job_outcome(job)
        if outcome.status != "SUCCEEDED":
            raise failure_error(outcome, self.permanent_exit_codes)
        self.log.info("AWS Batch job %s (%s) SUCCEEDED after %d attempt(s)", job.get("jobName"), self.job_id, outcome.attempts)
        return self.job_id

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None, job_id: str | None = None) -> str:
        """Resume after the trigger fired: read the job once, fetch its logs, report like sync mode."""
        self.job_id = job_id or (event or {}).get("job_id")
        if not event or event.get("status") == "error":
            raise BatchEksError((event or {}).get("message") or f"Waiting on AWS Batch job {self.job_id} failed.")
        hook = self.hook
        job = hook.describe_job(self.job_id)
        if job is None:
            raise BatchEksError(f"AWS Batch job {self.job_id} does not exist (any more).")
        for number, attempt in enumerate(job.get("eksAttempts") or [], start=1):
            self.log.info("AWS Batch job %s %s", self.job_id, attempt_line(number, attempt))
        self._fetch_attempt_logs(job)
        return self._finish(context, hook, job)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any):
        """On a deferral that timed out (``max_wait``) or failed, terminate the job before failing."""
        if next_method == _TRIGGER_FAIL:
            job_id = context["ti"].xcom_pull(task_ids=self.task_id, key=JOB_ID_XCOM_KEY, map_indexes=context["ti"].map_index)
            if job_id:
                self.log.info("Terminating AWS Batch job %s: the deferred wait ended without an event", job_id)
                self.hook.terminate_job(job_id, WAIT_TIMEOUT_REASON)
        return super().resume_execution(next_method, next_kwargs, context)

    def on_kill(self) -> None:
        """Terminate the Batch job when the task is killed (marked failed, cleared, timed out)."""
        if self.job_id:
            self.log.info("Terminating AWS Batch job %s: %s", self.job_id, KILL_REASON)
            self.hook.terminate_job(self.job_id, KILL_REASON)

