"""Attempts: start a job's pod on a node, and turn a pod's end into an ``eksAttempts`` entry and the
job's next status (SUCCEEDED, back to RUNNABLE for a retry, or FAILED).

Never retried, whatever the retry strategy says: cancelled, terminated and timed-out jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .lifecycle import transition
from ..store.logs import log_group_for_cluster, log_stream_name
from ..store.models import TERMINAL_STATUSES, ComputeEnvironment, Job, JobStatus as S, Node, Pod
from .pods import build_pod, container_base_env, container_specs
from .evaluate_on_exit import should_retry
from ..runtime.process import ContainerResult, PodRun

if TYPE_CHECKING:
    from .scheduler import Scheduler

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
    """The scheduler's half that deals with one attempt at a time."""

    def __init__(self, scheduler: "Scheduler") -> None:
        self.scheduler = scheduler
        self.state = scheduler.state

    # -- start ---------------------------------------------------------------------------------------------
    def start(self, job: Job, ce: ComputeEnvironment, node: Node) -> None:
        sched, state = self.scheduler, self.state
        now = state.clock.now()
        cpu, mem, gpu = sched.requests_of(job)
        sched.capacity.reserve(node, cpu, mem, gpu)
        job.attempt_number += 1
        job.ce_name = ce.name
        pod = build_pod(job, ce, node, now)
        job.pod_name, job.node_name, job.instance_id = pod.name, node.name, node.instance_id
        job.status_reason = None
        transition(state, job, S.STARTING)
        state.add(pod)
        work_dir = sched.runtime.work_root / pod.name
        base_env = container_base_env(pod.name, work_dir, sched.api_address, state.config.pass_env)
        init_specs, specs = container_specs(pod, base_env)
        sched.runtime.start(PodRun(pod.name, init_specs, specs, work_dir))
        pod.phase = "Running"
        pod.started_at = now
        transition(state, job, S.RUNNING)
        sched.fairshare.attempt_started(job, cpu)
        if job.timeout_seconds:
            sched.timers.add(now + job.timeout_seconds, "timeout", job.job_id, job.attempt_number)
        if sched.metrics is not None:
            sched.metrics.attempt_started(job, ce)

    # -- output and exit -------------------------------------------------------------------------------------
    def output(self, pod_name: str, container: str, line: str) -> None:
        pod = self.state.pods.get(pod_name)
        if pod is None:
            return
        ce = self.state.compute_environments.get(pod.ce_name)
        self.scheduler.logs.append(
            pod_name,
            container,
            line,
            group=log_group_for_cluster(ce.cluster_arn if ce else "local"),
            stream=log_stream_name(pod.node_name, pod.name, pod.namespace, container),
        )

    def pod_exited(
        self, pod_name: str, init_results: list[ContainerResult], results: list[ContainerResult], stop_reason: str | None
    ) -> None:
        sched, state = self.scheduler, self.state
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
        sched.logs.notify(pod_name)
        if not pod.deleted:  # a pod deleted through the Kubernetes API goes once it has stopped (below)
            sched.timers.add(now + state.config.pod_retention_seconds, "pod_delete", pod_name)
        job = state.jobs.get(pod.job_id)
        cpu, mem, gpu = sched.requests_of(job) if job is not None else (0.0, 0, 0)
        sched.capacity.release(pod.node_name, cpu, mem, gpu)
        try:
            self._attempt_ended(job, pod, init_results, results, stop_reason, cpu)
        finally:
            if pod.deleted:
                sched.remove_pod(pod_name)

    def _attempt_ended(
        self,
        job: Job | None,
        pod: Pod,
        init_results: list[ContainerResult],
        results: list[ContainerResult],
        stop_reason: str | None,
        cpu: float,
    ) -> None:
        sched = self.scheduler
        if job is None or job.pod_name != pod.name or job.status in TERMINAL_STATUSES:
            return
        sched.fairshare.attempt_ended(job, cpu)
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
            "startedAt": job.started_at or self.state.clock.now_ms(),
            "stoppedAt": self.state.clock.now_ms(),
        }
        if init_results:
            attempt["initContainers"] = containers(init_results)
        if reason:
            attempt["statusReason"] = reason
        return attempt

    def finish(self, job: Job, attempt: dict[str, Any], failing: ContainerResult | None, reason: str | None) -> None:
        sched, state = self.scheduler, self.state
        job.eks_attempts.append(attempt)
        if sched.metrics is not None:
            sched.metrics.attempt_finished(job, reason)
        if reason is None:
            transition(state, job, S.SUCCEEDED, None)
            sched.deps.job_ended(job)
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
            sched.deps.job_ended(job)
