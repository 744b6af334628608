"""Attempts: place a job's pod on a node, start its containers, and turn a pod's end into an ``eksAttempts``
entry and the job's next status (SUCCEEDED, back to RUNNABLE for a retry, or FAILED).

An attempt goes through three steps, as a pod does on a kubelet:

1. **placed** (:meth:`AttemptBook.place`): the node's room is reserved, the pod exists in phase ``Pending``
   (scheduled on its node, containers ``waiting: ContainerCreating`` in the Kubernetes API), the job is
   STARTING;
2. **handed to the runtime** (:meth:`AttemptBook.start_due`, on a later pass, once the pod's start delay has
   passed on the engine's clock: none by default, see :class:`.faults.PodStartDelays`): the runtime pulls
   the images and runs the init containers; the pod is still ``Pending``, the job still STARTING, as Batch
   counts image pulls and init containers;
3. **started** (:meth:`AttemptBook.containers_started`, the runtime's ``on_started``: every container of the
   pod has started): the pod is ``Running``, the job RUNNING (``startedAt``), and the attempt's timeout
   counts from here.

A pod that is stopped, deleted or loses its node while still Pending ends at once, without processes (step
1), or as soon as the runtime has stopped what it was doing (step 2: a pull in progress, an init container).
An attempt that never reached step 3 has no ``startedAt`` in ``eksAttempts`` (AWS: "when the attempt
transitioned from the STARTING state to the RUNNING state").
Never retried, whatever the retry strategy says: cancelled, terminated and timed-out jobs.
"""

from __future__ import annotations

from typing import Any, Callable

from .capacity import CapacityManager
from .dependencies import DependencyTracker
from .fairshare import FairShareBook
from .lifecycle import transition
from .timers import Deadlines
from ..store.fluent_bit import container_id, fluent_bit_kubernetes, log_group_for_cluster, log_stream_name
from ..store.logs import LogStore
from ..store.models import TERMINAL_STATUSES, ComputeEnvironment, Job, JobStatus as S, Node, Pod
from ..store.state import EngineState
from .pods import build_pod, container_base_env, container_specs
from .evaluate_on_exit import should_retry
from ..runtime.process import ContainerResult, PodRun, ProcessRuntime

__all__ = [
    "AttemptBook",
    "TIMEOUT_REASON",
    "CONTAINER_EXITED_REASON",
    "host_terminated_reason",
]

TIMEOUT_REASON = "Job attempt duration exceeded timeout"
# AWS's plain wording for a failed container, so that ``onStatusReason`` rules written for AWS match here
# too. Which container failed, its exit code and reason (Error, OOMKilled, ContainerCannotRun) are in
# ``eksAttempts[].containers`` / ``initContainers``.
CONTAINER_EXITED_REASON = "Essential container in pod exited"


def host_terminated_reason(instance_id: str) -> str:
    """statusReason of an attempt whose node went away (Spot interruption, lost host)."""
    return f"Host EC2 (instance {instance_id}) terminated."


class AttemptBook:
    """The scheduler's half that deals with one attempt at a time.

    :param requests_of: a job's pod requests ``(vCPUs, memory MiB, GPUs)``.
    :param api_address: the engine's Kubernetes API address for the containers' variables, asked when a pod
        starts (None while the engine does not know where it is served).
    :param start_delay: seconds a placed pod of the named compute environment stays Pending.
    :param remove_pod: forgets a pod (record, log lines, work dir).
    """

    def __init__(
        self,
        state: EngineState,
        *,
        logs: LogStore,
        capacity: CapacityManager,
        fairshare: FairShareBook,
        deps: DependencyTracker,
        timers: Deadlines,
        runtime: ProcessRuntime,
        requests_of: Callable[[Job], tuple[float, int, int]],
        api_address: Callable[[], tuple[str, int] | None],
        start_delay: Callable[[str], float],
        remove_pod: Callable[[str], None],
        metrics: Any = None,
    ) -> None:
        self.state = state
        self.logs = logs
        self.capacity = capacity
        self.fairshare = fairshare
        self.deps = deps
        self.timers = timers
        self._runtime = runtime
        runtime.on_started = self.containers_started
        self.requests_of = requests_of
        self.api_address = api_address
        self.start_delay = start_delay
        self.remove_pod = remove_pod
        self.metrics = metrics
        self.pending: dict[str, Pod] = {}  # placed pods whose containers have not started yet

    @property
    def runtime(self) -> ProcessRuntime:
        """What runs the pods (the process or the docker runtime); setting it makes it tell this book when a
        pod's containers have started (its ``on_started``)."""
        return self._runtime

    @runtime.setter
    def runtime(self, runtime: ProcessRuntime) -> None:
        self._runtime = runtime
        runtime.on_started = self.containers_started

    # -- place and start ---------------------------------------------------------------------------------------
    def place(self, job: Job, ce: ComputeEnvironment, node: Node) -> None:
        """Reserve room on ``node`` and create the attempt's pod, Pending; the job is STARTING."""
        state = self.state
        now = state.clock.now()
        cpu, mem, gpu = self.requests_of(job)
        self.capacity.reserve(node, cpu, mem, gpu)
        job.attempt_number += 1
        job.ce_name = ce.name
        pod = build_pod(job, ce, node, now)
        job.pod_name, job.node_name, job.instance_id = pod.name, node.name, node.instance_id
        job.status_reason = None
        transition(state, job, S.STARTING)
        state.add(pod)
        self.pending[pod.name] = pod
        self.fairshare.attempt_started(job, cpu)
        if self.metrics is not None:
            self.metrics.attempt_started(job, ce)

    def next_start_at(self) -> float | None:
        """When the next Pending pod is due to start (engine clock), or None."""
        return min((p.created_at + self.start_delay(p.ce_name) for p in self.pending.values()), default=None)

    def start_due(self, now: float) -> int:
        """Hand every Pending pod whose start delay has passed to the runtime; returns how many."""
        due = [p for p in self.pending.values() if p.created_at + self.start_delay(p.ce_name) <= now]
        for pod in due:
            del self.pending[pod.name]
            job = self.state.jobs.get(pod.job_id)
            if job is None or job.pod_name != pod.name or job.status != S.STARTING:
                continue
            self._run(pod)
        return len(due)

    def _run(self, pod: Pod) -> None:
        """Hand the pod to the runtime: it pulls the images and runs the init containers, the job STARTING
        meanwhile; :meth:`containers_started` hears when the containers run."""
        work_dir = self.runtime.work_root / pod.name
        base_env = container_base_env(pod.name, work_dir, self.api_address(), self.state.config.pass_env)
        init_specs, specs = container_specs(pod, base_env)
        self.runtime.start(PodRun(pod.name, init_specs, specs, work_dir))

    def containers_started(self, pod_name: str) -> None:
        """The runtime's ``on_started``: every container of the pod has started (images pulled, init
        containers done). The pod is ``Running``, its job RUNNING (``startedAt``); the attempt's timeout
        counts from now."""
        pod = self.state.pods.get(pod_name)
        if pod is None or pod.finished_at is not None or pod.started_at is not None:
            return
        now = self.state.clock.now()
        pod.phase = "Running"
        pod.started_at = now
        self.state.touch(pod)
        job = self.state.jobs.get(pod.job_id)
        if job is None or job.pod_name != pod.name or job.status != S.STARTING:
            return
        transition(self.state, job, S.RUNNING)
        if job.timeout_seconds:
            self.timers.add(now + job.timeout_seconds, "timeout", job.job_id, job.attempt_number)

    def is_pending(self, pod_name: str) -> bool:
        return pod_name in self.pending

    def end_pending(self, pod_name: str, reason: str) -> None:
        """A Pending pod is stopped, deleted or lost its node: it ends now, no container having run."""
        if self.pending.pop(pod_name, None) is not None:
            self.pod_exited(pod_name, [], [], reason)

    # -- output and exit -------------------------------------------------------------------------------------
    def output(self, pod_name: str, container: str, line: str, source: str) -> None:
        """Store a container's output (``line``: one or more lines as read) written to ``source``, ``stdout``
        or ``stderr``."""
        pod = self.state.pods.get(pod_name)
        if pod is None:
            return
        ce = self.state.compute_environments.get(pod.ce_name)
        # the id the pod's status reports as containerID (containerd://<id>, docker://<id>), known before output
        full_id = self.runtime.container_id(pod_name, container)
        cid = full_id.partition("://")[2] if full_id else container_id(pod_name, container)
        specs = (pod.spec.get("initContainers") or []) + (pod.spec.get("containers") or [])
        image = next((c.get("image", "") for c in specs if c.get("name") == container), "")
        self.logs.append(
            pod_name,
            container,
            line,
            source=source,
            group=log_group_for_cluster(ce.cluster_arn if ce else "local"),
            stream=log_stream_name(pod.node_name, pod.name, pod.namespace, container, cid),
            kubernetes=fluent_bit_kubernetes(
                pod_name=pod.name, namespace=pod.namespace, pod_id=pod.uid, host=pod.node_name,
                container_name=container, container_id=cid, container_image=image, labels=pod.labels,
            ),
        )

    def pod_exited(
        self, pod_name: str, init_results: list[ContainerResult], results: list[ContainerResult], stop_reason: str | None
    ) -> None:
        state = self.state
        pod = state.pods.get(pod_name)
        if pod is None:
            return
        now = state.clock.now()
        pod.finished_at = now
        pod.container_states = {
            r.name: {"exitCode": r.exit_code, "reason": r.reason, "containerID": r.container_id}
            for r in init_results + results
        }
        ok = not stop_reason and bool(results) and all(r.exit_code == 0 for r in results)
        pod.phase = "Succeeded" if ok else "Failed"
        self.logs.notify(pod_name)
        if not pod.deleted:  # a pod deleted through the Kubernetes API goes once it has stopped (below)
            self.timers.add(now + state.config.pod_retention_seconds, "pod_delete", pod_name)
        job = state.jobs.get(pod.job_id)
        cpu, mem, gpu = self.requests_of(job) if job is not None else (0.0, 0, 0)
        self.capacity.release(pod.node_name, cpu, mem, gpu)
        try:
            self._attempt_ended(job, pod, init_results, results, stop_reason, cpu)
        finally:
            if pod.deleted:
                self.remove_pod(pod_name)

    def _attempt_ended(
        self,
        job: Job | None,
        pod: Pod,
        init_results: list[ContainerResult],
        results: list[ContainerResult],
        stop_reason: str | None,
        cpu: float,
    ) -> None:
        if job is None or job.pod_name != pod.name or job.status in TERMINAL_STATUSES:
            return
        self.fairshare.attempt_ended(job, cpu)
        failing_init = next((r for r in init_results if r.exit_code != 0), None)
        failing = failing_init or next((r for r in results if r.exit_code != 0), None)
        if stop_reason:
            reason = stop_reason
        elif failing is not None:
            reason = CONTAINER_EXITED_REASON
        elif not results:
            reason = "Pod ended before its containers ran"
        else:
            reason = None
        attempt = self.record(job, pod, init_results, results, reason)
        self.finish(job, attempt, failing, reason)

    def lost_host(self, job: Job, reason: str) -> None:
        """The attempt's node is gone with no exit status (engine restart): fail it as a lost host."""
        attempt = self.record(job, None, [], [], reason)
        self.finish(job, attempt, None, reason)

    def record(
        self, job: Job, pod: Pod | None, init_results: list[ContainerResult], results: list[ContainerResult], reason: str | None
    ) -> dict[str, Any]:
        ce = self.state.compute_environments.get(job.ce_name or "")

        def containers(items: list[ContainerResult]) -> list[dict[str, Any]]:
            out = []
            for r in items:
                entry: dict[str, Any] = {"name": r.name, "containerID": r.container_id, "reason": r.reason}
                if r.exit_code is not None:
                    entry["exitCode"] = r.exit_code
                out.append(entry)
            return out

        attempt: dict[str, Any] = {
            "containers": containers(results),
            "podName": job.pod_name or "",
            "podNamespace": ce.namespace if ce else "",
            "nodeName": job.node_name or "",
            "eksClusterArn": ce.cluster_arn if ce else "",
            "stoppedAt": self.state.clock.now_ms(),
        }
        if job.status == S.RUNNING and job.started_at is not None:  # this attempt's start (never reached: none)
            attempt["startedAt"] = job.started_at
        if init_results:
            attempt["initContainers"] = containers(init_results)
        if reason:
            attempt["statusReason"] = reason
        return attempt

    def finish(self, job: Job, attempt: dict[str, Any], failing: ContainerResult | None, reason: str | None) -> None:
        state = self.state
        job.eks_attempts.append(attempt)
        if self.metrics is not None:
            self.metrics.attempt_finished(job, reason)
        if reason is None:
            transition(state, job, S.SUCCEEDED, None)
            self.deps.job_ended(job)
            return
        never_retry = job.is_terminated or job.is_cancelled or reason == TIMEOUT_REASON
        retry = not never_retry and should_retry(
            job.retry_strategy,
            job.attempt_number,
            status_reason=reason,
            reason=failing.reason if failing else None,
            exit_code=failing.exit_code if failing else None,
        )
        if retry:
            transition(state, job, S.RUNNABLE, reason)
            job.pod_name = job.node_name = job.instance_id = None
        else:
            transition(state, job, S.FAILED, reason)
            self.deps.job_ended(job)
