"""The hook that reaches the pods of AWS Batch jobs on Amazon EKS: pod logs while they run, CloudWatch
Logs once the pods are gone.

No extra set-up on AWS: the job's queue names its compute environments, whose ``eksConfiguration`` names the
EKS cluster; ``DescribeCluster`` gives the API server endpoint and CA, and the bearer token is made as
``aws eks get-token`` makes it (a presigned STS ``GetCallerIdentity`` URL). A ``kubernetes_conn_id``
(a ``cncf.kubernetes`` connection: in-cluster, a kubeconfig, ...) may replace all that.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from ..retries import aws_api_retry, is_transient
from .batch import BatchEksHook
from . import pod_log_http
from .eks_auth import BatchEksPodError, TokenCache, api_client_for_cluster, cluster_endpoint, eks_bearer_token
from .pod_logs import (
    MAX_SCANNED_LOG_STREAMS,
    StreamPosition,
    container_insights_log_group,
    fluent_bit_message,
    pod_stream_marker,
    response_lines,
    stream_container,
)

__all__ = [
    "BatchEksPodHook",
    "BatchEksPodError",
    "AttemptLogs",
    "PodRef",
    "eks_bearer_token",
    "container_insights_log_group",
    "kubernetes_api_retry",
    "stream_container",
]

DEFAULT_STREAM_TIMEOUT = (10.0, 300.0)
"""(connect, read) seconds of :meth:`BatchEksPodHook.stream_pod_logs`: a silent or half-open stream is
reopened after 5 minutes instead of blocking for ever."""
MAX_STREAM_RECONNECTS = 288
"""Reconnects of one :meth:`~BatchEksPodHook.stream_pod_logs` (a day of silence at the default timeout)."""
_ACTIVE_STATUSES = ("STARTING", "RUNNING")


def _record_lines(messages: list[str]) -> list[str]:
    """The lines of a container's CloudWatch events: the ``log`` of each Fluent Bit record (a record whose
    ``log`` has no newline is the first part of a line too long for one event: the next record continues
    it), or the message itself when it is not a record (see :func:`.pod_logs.fluent_bit_message`)."""
    lines: list[str] = []
    pending = ""
    for message in messages:
        log = _record_log(message)
        if log is None:
            lines.append(pending + fluent_bit_message(message))
            pending = ""
        elif log.endswith("\n"):
            lines.append(pending + log.rstrip("\n"))
            pending = ""
        else:
            pending += log
    if pending:
        lines.append(pending)
    return lines


def _record_log(message: str) -> str | None:
    """The ``log`` of a Fluent Bit record, None when the message is not one."""
    if not message.startswith("{"):
        return None
    try:
        record = json.loads(message)
    except ValueError:
        return None
    log = record.get("log") if isinstance(record, dict) else None
    return log if isinstance(log, str) else None


@dataclass(frozen=True)
class PodRef:
    """Where one attempt's pod lives."""

    pod_name: str
    namespace: str
    cluster_name: str | None
    node_name: str | None = None
    containers: tuple[str, ...] = ()


@dataclass
class AttemptLogs:
    """The output of one attempt's containers and where it was read from.

    :ivar source: ``"pod"`` (the Kubernetes API, the pod still exists), ``"cloudwatch"`` (CloudWatch Logs,
        the pod is gone) or ``"none"`` (neither has it).
    :ivar containers: container name -> its lines, in order.
    """

    pod_name: str
    namespace: str
    source: str
    containers: dict[str, list[str]] = field(default_factory=dict)

    @property
    def lines(self) -> list[str]:
        """Every line; prefixed with ``[container]`` when the pod had more than one container."""
        if len(self.containers) <= 1:
            return [line for lines in self.containers.values() for line in lines]
        return [f"[{name}] {line}" for name, lines in self.containers.items() for line in lines]


def _cluster_name(arn_or_name: str) -> str:
    return arn_or_name.rsplit("/", 1)[-1]


def _is_transient_kubernetes_error(error: BaseException) -> bool:
    """Throttling (429), 5xx answers and dropped connections of the Kubernetes API, and transient AWS errors."""
    from kubernetes.client import ApiException

    if isinstance(error, ApiException):
        return error.status == 429 or (error.status or 0) >= 500
    return is_transient(error)


def kubernetes_api_retry():
    """:func:`~batch_eks_provider.retries.aws_api_retry` (same bounds and waits) for Kubernetes API calls."""
    return aws_api_retry(predicate=_is_transient_kubernetes_error)


class BatchEksPodHook(AwsBaseHook):
    """Read the pods of AWS Batch jobs on EKS: their logs (followed while they run) and, once the pods are gone,
    the same output from CloudWatch Logs.

    The AWS clients (batch, eks, logs, sts) come from the Airflow AWS connection, so its ``endpoint_url``
    (e.g. the local engine) is honoured; the Kubernetes client is built from ``DescribeCluster``.

    :param aws_conn_id: The Airflow AWS connection.
    :param region_name: AWS region; defaults to the connection's.
    :param kubernetes_conn_id: A ``cncf.kubernetes`` connection (in-cluster, a kubeconfig file or dict) to use
        instead of DescribeCluster and an EKS token, e.g. for Airflow running inside the cluster.
    :param cluster_name: The EKS cluster, when known; otherwise found from the job (queue -> CE).
    :param clock: Monotonic seconds, for token refresh (tests pass their own).

    .. seealso:: https://docs.aws.amazon.com/batch/latest/userguide/eks.html
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    hook_name = "AWS Batch on EKS pods"

    def __init__(
        self,
        *args: Any,
        kubernetes_conn_id: str | None = None,
        cluster_name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        kwargs["client_type"] = "batch"
        super().__init__(*args, **kwargs)
        self.kubernetes_conn_id = kubernetes_conn_id
        self.cluster_name = cluster_name
        self._clients: dict[str, Any] = {}
        self._batch_hook: BatchEksHook | None = None
        self._api_clients: dict[str, Any] = {}
        self._clusters: dict[str, dict[str, Any]] = {}
        self._ca_dir: tempfile.TemporaryDirectory | None = None
        self._log_readers: dict[str, tuple[Any, str]] = {}
        self._tokens = TokenCache(lambda cluster: self.get_token(cluster), clock)

    # -- AWS clients ----------------------------------------------------------------------------------------------
    def aws_client(self, service: str) -> Any:
        """A boto3 client for ``service`` from the hook's connection (endpoint_url and region honoured)."""
        if service not in self._clients:
            session = self.get_session(region_name=self.region_name)
            self._clients[service] = session.client(
                service,
                endpoint_url=self.conn_config.get_service_endpoint_url(service_name=service),
                config=self.config,
                verify=self.verify,
            )
        return self._clients[service]

    @property
    def batch_hook(self) -> BatchEksHook:
        """The Batch hook on the same connection (DescribeJobs, queues, compute environments, with retries)."""
        if self._batch_hook is None:
            self._batch_hook = BatchEksHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)
        return self._batch_hook

    @aws_api_retry()
    def describe_cluster(self, cluster_name: str) -> dict[str, Any]:
        """EKS DescribeCluster (cached per hook): endpoint, certificateAuthority, version..."""
        if cluster_name not in self._clusters:
            self._clusters[cluster_name] = self.aws_client("eks").describe_cluster(name=cluster_name)[
                "cluster"
            ]
        return self._clusters[cluster_name]

    def get_token(self, cluster_name: str) -> str:
        """A bearer token for the cluster, as ``aws eks get-token`` makes it."""
        return eks_bearer_token(self.aws_client("sts"), cluster_name)

    # -- the Kubernetes client ---------------------------------------------------------------------------------------
    def get_api_client(self, cluster_name: str | None = None) -> Any:
        """A ``kubernetes.client.ApiClient`` for the cluster (or for ``kubernetes_conn_id`` when set)."""
        cluster = cluster_name or self.cluster_name
        key = f"connection:{self.kubernetes_conn_id}" if self.kubernetes_conn_id else cluster
        if not key:
            raise BatchEksPodError("No EKS cluster given: pass cluster_name, or a job whose queue names one.")
        if key not in self._api_clients:
            if self.kubernetes_conn_id:
                self._api_clients[key] = self._api_client_from_connection(self.kubernetes_conn_id)
            else:
                self._api_clients[key] = self._api_client_for_cluster(cluster)
        return self._api_clients[key]

    def core_v1(self, cluster_name: str | None = None) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.get_api_client(cluster_name))

    @staticmethod
    def _api_client_from_connection(conn_id: str) -> Any:
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        return KubernetesHook(conn_id=conn_id).get_conn()

    def _api_client_for_cluster(self, cluster_name: str) -> Any:
        return api_client_for_cluster(
            cluster_name,
            self.describe_cluster(cluster_name),
            token=lambda: self._tokens.get(cluster_name),
            ca_dir=self._ca_path,
        )

    def _ca_path(self) -> Path:
        if self._ca_dir is None:
            self._ca_dir = tempfile.TemporaryDirectory(prefix="batch-eks-ca-")
        return Path(self._ca_dir.name)

    # -- from a job to its pods ------------------------------------------------------------------------------------------
    def _job(self, job: dict[str, Any] | str) -> dict[str, Any]:
        if isinstance(job, dict):
            return job
        found = self.batch_hook.describe_job(job)
        if found is None:
            raise BatchEksPodError(f"AWS Batch job ({job}) does not exist.")
        return found

    def _queue_targets(self, job: dict[str, Any]) -> list[tuple[str, str]]:
        """(cluster name, namespace) of each EKS compute environment of the job's queue, in queue order."""
        queue = self.batch_hook.describe_job_queue(job["jobQueue"])
        if queue is None:
            raise BatchEksPodError(
                f"Job queue {job['jobQueue']!r} of AWS Batch job ({job['jobId']}) does not exist."
            )
        order = [
            o["computeEnvironment"]
            for o in sorted(queue.get("computeEnvironmentOrder", []), key=lambda o: o["order"])
        ]
        targets: list[tuple[str, str]] = []
        for ce in self.batch_hook.describe_compute_environments(order):
            eks = ce.get("eksConfiguration") or {}
            if eks.get("eksClusterArn"):
                target = (_cluster_name(eks["eksClusterArn"]), eks.get("kubernetesNamespace", ""))
                if target not in targets:
                    targets.append(target)
        if not targets:
            raise BatchEksPodError(
                f"Job queue {job['jobQueue']!r} has no EKS compute environment (no eksConfiguration)."
            )
        return targets

    def attempt_pod(self, job: dict[str, Any] | str, attempt_index: int = -1) -> PodRef:
        """The pod of a finished attempt (``eksAttempts[attempt_index]``)."""
        job = self._job(job)
        attempts = job.get("eksAttempts") or []
        try:
            attempt = attempts[attempt_index]
        except IndexError:
            raise BatchEksPodError(
                f"AWS Batch job ({job['jobId']}) has {len(attempts)} finished attempt(s); no attempt {attempt_index}."
            ) from None
        return self._ref_from_attempt(job, attempt)

    def _ref_from_attempt(self, job: dict[str, Any] | None, attempt: dict[str, Any]) -> PodRef:
        cluster = _cluster_name(attempt["eksClusterArn"]) if attempt.get("eksClusterArn") else None
        namespace = attempt.get("podNamespace") or ""
        if (cluster is None or not namespace) and job is not None:
            cluster_q, namespace_q = self._queue_targets(job)[0]
            cluster, namespace = cluster or cluster_q, namespace or namespace_q
        containers = tuple(c["name"] for c in attempt.get("containers", []) if c.get("name"))
        return PodRef(
            attempt["podName"], namespace, cluster or self.cluster_name, attempt.get("nodeName"), containers
        )

    def current_pod(self, job: dict[str, Any] | str) -> PodRef:
        """The pod of the attempt running now, or else of the last attempt."""
        job = self._job(job)
        props = (job.get("eksProperties") or {}).get("podProperties") or {}
        if job.get("status") in _ACTIVE_STATUSES and props.get("podName"):
            targets = self._queue_targets(job)
            if len(targets) > 1:  # CEs on several clusters or namespaces: ask each which one runs the pod
                targets = [t for t in targets if self._pod_exists(t[0], t[1], props["podName"])] or targets
            cluster, namespace = targets[0]
            return PodRef(props["podName"], namespace, cluster, props.get("nodeName"))
        if job.get("eksAttempts"):
            return self.attempt_pod(job, -1)
        raise BatchEksPodError(f"AWS Batch job ({job['jobId']}) is {job.get('status')} and has no pod yet.")

    @kubernetes_api_retry()
    def _pod_exists(self, cluster_name: str, namespace: str, pod_name: str) -> bool:
        from kubernetes.client import ApiException

        try:
            self.core_v1(cluster_name).read_namespaced_pod(pod_name, namespace)
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        return True

    # -- logs ---------------------------------------------------------------------------------------------------------------
    @kubernetes_api_retry()
    def read_pod_log(
        self,
        pod_name: str,
        namespace: str,
        container: str | None = None,
        *,
        cluster_name: str | None = None,
        since_seconds: int | None = None,
        tail_lines: int | None = None,
        timestamps: bool = False,
    ) -> str:
        """The pod's log (one container) through the Kubernetes API, as ``kubectl logs`` shows it.

        :raises kubernetes.client.ApiException: e.g. status 404 once the pod is gone.
        """
        kwargs: dict[str, Any] = {"timestamps": timestamps}
        if container:
            kwargs["container"] = container
        if since_seconds is not None:
            kwargs["since_seconds"] = since_seconds
        if tail_lines is not None:
            kwargs["tail_lines"] = tail_lines
        # the raw body, decoded here: the kubernetes client's own decoding of text responses differs between
        # releases (36.x hands back the repr of the bytes, "b'...'")
        response = self.core_v1(cluster_name).read_namespaced_pod_log(pod_name, namespace, _preload_content=False, **kwargs)
        try:
            return response.data.decode("utf-8", "replace")
        finally:
            response.release_conn()

    def stream_pod_logs(
        self,
        job_or_attempt: dict[str, Any] | str,
        *,
        container: str | None = None,
        since_seconds: int | None = None,
        timestamps: bool = False,
        request_timeout: float | tuple[float, float] | None = DEFAULT_STREAM_TIMEOUT,
        max_reconnects: int = MAX_STREAM_RECONNECTS,
    ) -> Iterator[str]:
        """Yield a pod's log lines as they are printed (``follow=true``); ends when the pod ends (it succeeded,
        failed, was stopped, or its node was reclaimed: a retry runs in a new pod, so follow that one next).

        A stream silent for longer than the read timeout (or half-open) is reopened from where it stopped
        (``sinceSeconds``; lines already yielded are skipped by their timestamps), ``max_reconnects`` times
        at most.

        :param job_or_attempt: A DescribeJobs entry or job id (its running pod, else its last attempt's), or an
            ``eksAttempts`` entry.
        :param container: Defaults to the pod's first container (as ``kubectl logs`` does).
        :param request_timeout: Passed to the Kubernetes client (seconds, or (connect, read)); the read timeout
            bounds the wait for the next line (default :data:`DEFAULT_STREAM_TIMEOUT`; ``None``: no bound).
        :param max_reconnects: Reopened streams after read timeouts, at most; past it the timeout is raised.
        :raises BatchEksPodError: the job has no pod yet.
        :raises kubernetes.client.ApiException: e.g. 404 when the pod is already gone.
        :raises urllib3.exceptions.ReadTimeoutError: more than ``max_reconnects`` read timeouts.
        """
        from urllib3.exceptions import ReadTimeoutError

        ref = self._ref(job_or_attempt)
        core = self.core_v1(ref.cluster_name)
        if container is None:
            pod = kubernetes_api_retry()(core.read_namespaced_pod)(ref.pod_name, ref.namespace)
            container = pod.spec.containers[0].name
        position = StreamPosition()
        since = since_seconds
        for reconnect in range(max_reconnects + 1):
            kwargs: dict[str, Any] = {
                "container": container,
                "follow": True,
                "timestamps": True,  # to resume exactly where a timed-out stream stopped
                "_preload_content": False,
            }
            if since is not None:
                kwargs["since_seconds"] = since
            if request_timeout is not None:
                kwargs["_request_timeout"] = request_timeout
            open_stream = kubernetes_api_retry()(core.read_namespaced_pod_log)
            response = open_stream(ref.pod_name, ref.namespace, **kwargs)
            try:
                for stamped in response_lines(response):
                    stamp, _, text = stamped.partition(" ")
                    if position.seen(stamp):
                        yield stamped if timestamps else text
                return
            except ReadTimeoutError:
                if reconnect == max_reconnects:
                    raise
                since = position.since_seconds(since_seconds)
                self.log.info(
                    "No log line of pod %s for %s s: reopening the stream (sinceSeconds=%s)",
                    ref.pod_name,
                    request_timeout,
                    since,
                )
            finally:
                response.release_conn()

    def _ref(self, job_or_attempt: dict[str, Any] | str) -> PodRef:
        if isinstance(job_or_attempt, dict) and "podName" in job_or_attempt and "jobId" not in job_or_attempt:
            return self._ref_from_attempt(None, job_or_attempt)
        return self.current_pod(job_or_attempt)

    def fetch_attempt_logs(
        self, job: dict[str, Any] | str, attempt_index: int = -1, *, container: str | None = None
    ) -> AttemptLogs:
        """All output of one finished attempt: from the pod while it exists, else from CloudWatch Logs
        (``/aws/containerinsights/<cluster>/application``, the streams of the pod's containers).

        Without a ``kubernetes_conn_id`` the pod log is read with one GET per container
        (:mod:`~batch_eks_provider.hooks.pod_log_http`), so a resumed deferred task never imports the
        kubernetes client."""
        ref = self.attempt_pod(job, attempt_index)
        containers = [container] if container else list(ref.containers) or [None]
        if not self.kubernetes_conn_id and ref.cluster_name:
            from_pod: dict[str, list[str]] = {}
            for name in containers:
                text = self._read_log_over_http(ref, name)
                if text is None:  # the pod is gone
                    return self._cloudwatch_logs(ref, [c for c in containers if c])
                from_pod[name or ""] = text.splitlines()
            return AttemptLogs(ref.pod_name, ref.namespace, "pod", from_pod)
        from kubernetes.client import ApiException

        try:
            found: dict[str, list[str]] = {}
            for name in containers:
                text = self.read_pod_log(ref.pod_name, ref.namespace, name, cluster_name=ref.cluster_name)
                found[name or ""] = text.splitlines()
            return AttemptLogs(ref.pod_name, ref.namespace, "pod", found)
        except ApiException as e:
            if e.status != 404:
                raise
        return self._cloudwatch_logs(ref, [c for c in containers if c])

    @pod_log_http.log_read_retry()
    def _read_log_over_http(self, ref: PodRef, container: str | None) -> str | None:
        pool, endpoint = self._log_reader(ref.cluster_name)
        return pod_log_http.read_pod_log(pool, endpoint, self._tokens.get(ref.cluster_name), ref.namespace, ref.pod_name, container)

    def _log_reader(self, cluster_name: str) -> tuple[Any, str]:
        """(urllib3 pool, endpoint) of the cluster: its CA verified for an https endpoint, as the client does."""
        import urllib3

        if cluster_name not in self._log_readers:
            endpoint, ca_path = cluster_endpoint(cluster_name, self.describe_cluster(cluster_name), self._ca_path)
            pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=ca_path) if ca_path else urllib3.PoolManager()
            self._log_readers[cluster_name] = (pool, endpoint)
        return self._log_readers[cluster_name]

    @aws_api_retry()
    def _cloudwatch_logs(self, ref: PodRef, containers: list[str]) -> AttemptLogs:
        logs = self.aws_client("logs")
        if not ref.cluster_name:
            return AttemptLogs(ref.pod_name, ref.namespace, "none")
        group = container_insights_log_group(ref.cluster_name)
        marker = pod_stream_marker(ref.pod_name, ref.namespace)
        prefixes = self._stream_prefixes(logs, group, ref, containers)
        result: dict[str, list[str]] = {}
        try:
            for name, prefix in prefixes:
                messages: list[str] = []
                for page in logs.get_paginator("filter_log_events").paginate(
                    logGroupName=group, logStreamNamePrefix=prefix
                ):
                    messages.extend(
                        event["message"]
                        for event in page["events"]
                        # container "app" must not take the stream of container "application"
                        if not name or stream_container(event["logStreamName"], marker) == name
                    )
                result[name] = _record_lines(messages)
        except logs.exceptions.ResourceNotFoundException:
            return AttemptLogs(ref.pod_name, ref.namespace, "none")
        source = "cloudwatch" if any(result.values()) else "none"
        return AttemptLogs(ref.pod_name, ref.namespace, source, result)

    @staticmethod
    def _stream_prefixes(logs: Any, group: str, ref: PodRef, containers: list[str]) -> list[tuple[str, str]]:
        """(container, stream name prefix) pairs; without the node name, found among the group's most
        recently written streams (at most :data:`MAX_SCANNED_LOG_STREAMS` of them)."""
        marker = pod_stream_marker(ref.pod_name, ref.namespace)
        if ref.node_name:
            base = f"{ref.node_name}-application.var.log{marker}"
            return [(name, base + name) for name in containers] if containers else [("", base)]
        pairs: list[tuple[str, str]] = []
        try:
            pages = logs.get_paginator("describe_log_streams").paginate(
                logGroupName=group,
                orderBy="LastEventTime",
                descending=True,
                PaginationConfig={"MaxItems": MAX_SCANNED_LOG_STREAMS},
            )
            for page in pages:
                for stream in page["logStreams"]:
                    container = stream_container(stream["logStreamName"], marker)
                    if container is not None and (not containers or container in containers):
                        pairs.append((container, stream["logStreamName"]))
        except logs.exceptions.ResourceNotFoundException:
            return []
        return pairs
