"""The scheduler: moves jobs through their lifecycle, places pods on nodes and reacts to pod exits.

It runs as one task on the engine's event loop. Each pass (:meth:`Scheduler.tick`) is driven by events
(a submit, a pod exit, an API change, the clock moving) and does only the work those events made
necessary: admitting new jobs, re-checking the dependents of jobs that just ended, placing RUNNABLE jobs
of each queue in priority order, scaling nodes, and enforcing timeouts and pod retention.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from .capacity import CapacityManager
from .fairshare import order_runnable
from .lifecycle import transition
from .logs import LogStore, log_group_for_cluster, log_stream_name
from .models import TERMINAL_STATUSES, ComputeEnvironment, Job, JobQueue, JobStatus as S, Node, Pod
from .pods import build_pod, container_specs
from .retry import should_retry
from .runtime.process import ContainerResult, PodRun, ProcessRuntime
from .service.validation import pod_requests
from .state import EngineState

__all__ = ["Scheduler", "host_terminated_reason", "TIMEOUT_REASON", "DEPENDENCY_FAILED_REASON"]

TIMEOUT_REASON = "Job attempt duration exceeded timeout"
DEPENDENCY_FAILED_REASON = "Dependent Job failed"
RESOURCE_REQUIREMENT_REASON = (
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher "
    "than that can be met by the CE(s) attached to the job queue."
)
INSUFFICIENT_CAPACITY_REASON = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - waiting for capacity in the compute environment(s)."
_PLACEMENT_MISSES_PER_QUEUE = 16
_DEMAND_PER_CE = 500


def host_terminated_reason(instance_id: str) -> str:
    return f"Host EC2 (instance {instance_id}) terminated."


class Scheduler:
    def __init__(self, state: EngineState, logs: LogStore, work_root: Path, metrics: Any = None) -> None:
        self.state = state
        self.logs = logs
        self.metrics = metrics
        self.rng = random.Random(state.config.random_seed)
        self.capacity = CapacityManager(state, self.rng)
        self.runtime = ProcessRuntime(
            work_root, self._on_output, self._on_pod_exit, grace_seconds=state.config.termination_grace_seconds
        )
        self._wake = asyncio.Event()
        self._stopped = False
        self._recheck: set[str] = set()  # PENDING jobs whose dependencies may have changed
        self._dependents: dict[str, set[str]] = defaultdict(set)  # job id -> PENDING jobs waiting on it
        self._requests: dict[str, tuple[float, int, int]] = {}
        self._last_tick = state.clock.now()
        self._base_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_BATCH")}

    # -- loop ---------------------------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        self.recover()
        while not self._stopped:
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the loop must survive a bad pass; the error is reported
                import traceback

                traceback.print_exc()
            busy = self.state.status_index.count(S.RUNNING) or self.state.status_index.count(S.RUNNABLE) or self.state.nodes
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=0.2 if busy else 1.0)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        await self.runtime.shutdown()
        self.state.flush()
        self.logs.flush()

    def recover(self) -> None:
        """After a restart: attempts that were running died with their node; follow their retry strategy."""
        for job_id in self.state.status_index.ids(S.PENDING) + self.state.status_index.ids(S.SUBMITTED):
            self._recheck.add(job_id)
        for job_id in self.state.status_index.ids(S.STARTING) + self.state.status_index.ids(S.RUNNING):
            job = self.state.jobs[job_id]
            instance = "i-" + job_id.replace("-", "")[:17]
            reason = host_terminated_reason(instance)
            attempt = self._attempt_record(job, None, [], [], reason)
            self._finish_attempt(job, attempt, [], reason, host_lost=True)
        self.state.flush()

    # -- one pass ------------------------------------------------------------------------------------------
    def tick(self) -> None:
        now = self.state.clock.now()
        elapsed, self._last_tick = max(0.0, now - self._last_tick), now
        self._update_resource_statuses()
        self._admit_submitted()
        self._resolve_pending()
        self._nodes_ready(now)
        demand = self._place_runnable()
        self._scale(now, demand)
        self._enforce_timeouts(now)
        self._spot_interruptions(elapsed)
        self._delete_finished_pods(now)
        self.state.flush()
        self.logs.flush()

    def _update_resource_statuses(self) -> None:
        for ce in list(self.state.compute_environments.values()):
            if ce.status in ("CREATING", "UPDATING"):
                ce.status = "VALID"
                self.state.touch(ce)
            elif ce.status == "DELETING" and not self.capacity.nodes_of(ce):
                self.state.remove(ce)
        for queue in list(self.state.job_queues.values()):
            if queue.status == "DELETING":
                self.state.remove(queue)

    # -- SUBMITTED / PENDING ---------------------------------------------------------------------------
    def _admit_submitted(self) -> None:
        for job_id in self.state.status_index.ids(S.SUBMITTED):
            job = self.state.jobs[job_id]
            deps = self._dependencies(job)
            if job.is_array_parent or deps:
                transition(self.state, job, S.PENDING)
                self._recheck.add(job_id)
            else:
                transition(self.state, job, S.RUNNABLE)

    def _dependencies(self, job: Job) -> list[str]:
        """The job ids this job waits for (array children inherit their parent's dependencies)."""
        deps: list[str] = []
        source = self.state.jobs[job.parent_id] if job.parent_id else job
        for dep in source.depends_on:
            dep_type, dep_id = dep.get("type"), dep.get("jobId")
            if dep_type == "SEQUENTIAL" and not dep_id:
                if job.array_index:
                    deps.append(f"{job.parent_id}:{job.array_index - 1}")
            elif dep_type == "N_TO_N" and job.array_index is not None:
                deps.append(f"{dep_id}:{job.array_index}")
            elif dep_type == "N_TO_N":
                continue  # the parent waits through its children
            elif dep_id:
                deps.append(dep_id)
        return deps

    def _resolve_pending(self) -> None:
        while self._recheck:
            batch, self._recheck = self._recheck, set()
            for job_id in batch:
                job = self.state.jobs.get(job_id)
                if job is None or job.status != S.PENDING:
                    continue
                if job.is_array_parent:
                    self._update_array_parent(job)
                    continue
                waiting = False
                failed = False
                for dep_id in self._dependencies(job):
                    dep = self.state.jobs.get(dep_id)
                    if dep is None or dep.status == S.SUCCEEDED:
                        continue
                    if dep.status == S.FAILED:
                        failed = True
                        break
                    waiting = True
                    self._dependents[dep_id].add(job_id)
                if failed:
                    transition(self.state, job, S.FAILED, DEPENDENCY_FAILED_REASON)
                    self._job_ended(job)
                elif not waiting:
                    transition(self.state, job, S.RUNNABLE)

    def _update_array_parent(self, parent: Job) -> None:
        children = [self.state.jobs[c] for c in self.state.children.get(parent.job_id, [])]
        if parent.status != S.PENDING:
            return
        for child in children:
            if child.status == S.SUBMITTED:
                return
        if all(c.status in TERMINAL_STATUSES for c in children):
            if all(c.status == S.SUCCEEDED for c in children):
                transition(self.state, parent, S.SUCCEEDED)
            else:
                failed = sum(1 for c in children if c.status == S.FAILED)
                transition(self.state, parent, S.FAILED, f"Array Child Job failed ({failed} of {len(children)} children failed)")
            self._job_ended(parent)

    def _job_ended(self, job: Job) -> None:
        """Re-check whatever waited on ``job`` (dependents, its array parent)."""
        self._recheck.update(self._dependents.pop(job.job_id, ()))
        if job.parent_id:
            self._recheck.add(job.parent_id)
            # an N_TO_N / standard dependency on the parent waits on the parent; SEQUENTIAL siblings wait here
        if self.metrics is not None:
            self.metrics.job_finished(job)

    # -- RUNNABLE -> STARTING -> RUNNING ---------------------------------------------------------------------
    def requests_of(self, job: Job) -> tuple[float, int, int]:
        cached = self._requests.get(job.job_id)
        if cached is None:
            cached = self._requests[job.job_id] = pod_requests(job.pod_properties)
        return cached

    def usable_ces(self, queue: JobQueue) -> list[ComputeEnvironment]:
        ces = [self.state.find_compute_environment(arn) for arn in queue.compute_environment_arns]
        return [ce for ce in ces if ce is not None and ce.usable]

    def _place_runnable(self) -> dict[str, list[tuple[float, int, int]]]:
        """Place RUNNABLE jobs, queues by priority; return the unmet demand per CE name for scaling."""
        demand: dict[str, list[tuple[float, int, int]]] = defaultdict(list)
        queues = sorted(self.state.job_queues.values(), key=lambda q: -q.priority)
        for queue in queues:
            runnable = self.state.status_index.runnable_by_queue.get(queue.arn)
            if not runnable or queue.state != "ENABLED" or queue.status != "VALID":
                continue
            ces = self.usable_ces(queue)
            if not ces:
                continue
            misses = 0
            for job in order_runnable(self.state, queue, runnable):
                cpu, mem, gpu = self.requests_of(job)
                fitting = [ce for ce in ces if self.capacity.can_ever_fit(ce, cpu, mem, gpu)]
                if not fitting:
                    if job.status_reason != RESOURCE_REQUIREMENT_REASON:
                        job.status_reason = RESOURCE_REQUIREMENT_REASON
                        self.state.touch(job)
                    continue
                placed = False
                for ce in fitting:
                    node = self.capacity.find_ready_node(ce, cpu, mem, gpu)
                    if node is not None:
                        self._start_attempt(job, ce, node)
                        placed = True
                        break
                if placed:
                    misses = 0
                    continue
                if len(demand[fitting[0].name]) < _DEMAND_PER_CE:
                    demand[fitting[0].name].append((cpu, mem, gpu))
                misses += 1
                if misses >= _PLACEMENT_MISSES_PER_QUEUE:
                    break
        return demand

    def _start_attempt(self, job: Job, ce: ComputeEnvironment, node: Node) -> None:
        now = self.state.clock.now()
        cpu, mem, gpu = self.requests_of(job)
        self.capacity.reserve(node, cpu, mem, gpu)
        job.attempt_number += 1
        job.ce_name = ce.name
        pod = build_pod(job, ce, node, now)
        job.pod_name, job.node_name = pod.name, node.name
        job.status_reason = None
        transition(self.state, job, S.STARTING)
        self.state.add(pod)
        init_specs, specs = container_specs(pod, self._base_env)
        self.runtime.start(
            PodRun(pod.name, init_specs, specs, self.runtime.work_root / pod.name)
        )
        pod.phase = "Running"
        pod.started_at = now
        transition(self.state, job, S.RUNNING)
        if self.metrics is not None:
            self.metrics.attempt_started(job, ce)

    # -- pod output and exit ----------------------------------------------------------------------------------
    def _on_output(self, pod_name: str, container: str, line: str) -> None:
        pod = self.state.pods.get(pod_name)
        if pod is None:
            return
        ce = self.state.compute_environments.get(pod.ce_name)
        cluster = ce.cluster_arn if ce else "local"
        self.logs.append(
            pod_name,
            container,
            line,
            group=log_group_for_cluster(cluster),
            stream=log_stream_name(pod.node_name, pod.name, pod.namespace, container),
        )

    def _on_pod_exit(
        self, pod_name: str, init_results: list[ContainerResult], results: list[ContainerResult], stop_reason: str | None
    ) -> None:
        pod = self.state.pods.get(pod_name)
        if pod is None:
            return
        now = self.state.clock.now()
        pod.finished_at = now
        pod.container_states = {
            r.name: {"exitCode": r.exit_code, "reason": r.reason, "containerID": r.container_id}
            for r in init_results + results
        }
        ok = not stop_reason and results and all(r.exit_code == 0 for r in results)
        pod.phase = "Succeeded" if ok else "Failed"
        self.logs.notify(pod_name)
        job = self.state.jobs.get(pod.job_id)
        cpu, mem, gpu = self._requests.get(pod.job_id) or (0.0, 0, 0)
        self.capacity.release(pod.node_name, cpu, mem, gpu)
        if job is None or job.pod_name != pod_name or job.status in TERMINAL_STATUSES:
            self.wake()
            return
        failing = next((r for r in init_results + results if r.exit_code != 0), None)
        if stop_reason:
            reason = stop_reason
        elif failing is not None:
            reason = f"Essential container in pod exited (container {failing.name!r}: exit code {failing.exit_code}, {failing.reason})"
        else:
            reason = None
        attempt = self._attempt_record(job, pod, init_results, results, reason)
        self._finish_attempt(job, attempt, init_results + results, reason, host_lost=False)
        self.wake()

    def _attempt_record(
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

    def _finish_attempt(
        self, job: Job, attempt: dict[str, Any], results: list[ContainerResult], reason: str | None, *, host_lost: bool
    ) -> None:
        job.eks_attempts.append(attempt)
        if self.metrics is not None:
            self.metrics.attempt_finished(job, reason)
        failing = next((r for r in results if r.exit_code != 0), None)
        succeeded = reason is None and bool(results) and failing is None
        if succeeded:
            transition(self.state, job, S.SUCCEEDED, None)
            self._job_ended(job)
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
            transition(self.state, job, S.RUNNABLE, reason)
            job.pod_name = job.node_name = None
        else:
            transition(self.state, job, S.FAILED, reason)
            self._job_ended(job)

    # -- stopping ---------------------------------------------------------------------------------------------
    def stop_job(self, job: Job, reason: str, *, terminate: bool) -> None:
        """TerminateJob / CancelJob: stop a running pod, or fail a job that has not started."""
        if job.status in TERMINAL_STATUSES:
            return
        if job.status in (S.STARTING, S.RUNNING) and job.pod_name:
            job.is_terminated = True
            self.state.touch(job)
            self.runtime.stop(job.pod_name, reason)
            return
        job.is_cancelled = True
        if job.is_array_parent:
            return  # the parent follows its children
        transition(self.state, job, S.FAILED, reason)
        self._job_ended(job)

    def reclaim_node(self, node: Node) -> list[str]:
        """A Spot interruption (or a lost host): every pod on the node dies; the node goes away."""
        reason = host_terminated_reason(node.instance_id)
        pods = [p.name for p in self.state.pods.values() if p.node_name == node.name and p.finished_at is None]
        for pod_name in pods:
            self.runtime.stop(pod_name, reason, force=True)
        self.capacity.terminate(node)
        if self.metrics is not None:
            self.metrics.spot_reclaimed(node)
        self.wake()
        return pods

    # -- time-driven ---------------------------------------------------------------------------------------
    def _nodes_ready(self, now: float) -> None:
        for node in self.state.nodes.values():
            if node.status == "NotReady" and node.ready_at <= now:
                node.status = "Ready"

    def _scale(self, now: float, demand: dict[str, list[tuple[float, int, int]]]) -> None:
        for ce in list(self.state.compute_environments.values()):
            if ce.status not in ("VALID", "DELETING"):
                continue
            resources = ce.compute_resources
            max_vcpus = int(resources.get("maxvCpus", 0))
            floor = int(resources.get("minvCpus", 0)) if ce.status == "VALID" else 0
            target = max(floor, int(resources.get("desiredvCpus") or 0)) if ce.state == "ENABLED" else floor
            nodes = self.capacity.nodes_of(ce)
            total = sum(n.vcpus for n in nodes)
            # 1. unmet demand: pack it into nodes still starting, then launch what is missing
            if ce.usable:
                starting_free = {
                    n.name: [n.vcpus - self.capacity.used(n).cpu, n.memory_mib - self.capacity.used(n).memory_mib, n.gpus - self.capacity.used(n).gpus]
                    for n in nodes if n.status == "NotReady"
                }
                for cpu, mem, gpu in demand.get(ce.name, []):
                    slot = next((f for f in starting_free.values() if f[0] >= cpu and f[1] >= mem and f[2] >= gpu), None)
                    if slot is None:
                        itype = self.capacity.pick_instance_type(ce, cpu, mem, gpu, max_vcpus - total)
                        if itype is None:
                            continue
                        node = self.capacity.launch(ce, itype)
                        total += node.vcpus
                        slot = starting_free[node.name] = [node.vcpus, node.memory_mib, node.gpus]
                    slot[0] -= cpu
                    slot[1] -= mem
                    slot[2] -= gpu
            # 2. minvCpus / desiredvCpus
            while total < target:
                types = self.capacity.instance_types(ce)
                fitting = [t for t in types if t.vcpus <= max(target - total, types[0].vcpus) and total + t.vcpus <= max_vcpus]
                if not fitting:
                    break
                node = self.capacity.launch(ce, fitting[-1])
                total += node.vcpus
            # 3. idle nodes above the floor go away
            if resources.get("desiredvCpus") and total > target and not demand.get(ce.name):
                resources["desiredvCpus"] = max(floor, 0)
            for node in sorted(nodes, key=lambda n: n.vcpus):
                use = self.capacity.used(node)
                idle_for = now - node.idle_since if node.idle_since is not None else 0
                if use.pods == 0 and idle_for >= self.state.config.node_idle_seconds and total - node.vcpus >= target:
                    self.capacity.terminate(node)
                    total -= node.vcpus

    def _enforce_timeouts(self, now: float) -> None:
        now_ms = now * 1000
        for job_id in self.state.status_index.ids(S.RUNNING):
            job = self.state.jobs[job_id]
            if job.timeout_seconds and job.started_at and job.pod_name:
                if now_ms - job.started_at >= job.timeout_seconds * 1000:
                    self.runtime.stop(job.pod_name, TIMEOUT_REASON)

    def _spot_interruptions(self, elapsed: float) -> None:
        if elapsed <= 0:
            return
        for node in list(self.state.nodes.values()):
            if node.capacity_type != "SPOT" or node.status != "Ready":
                continue
            ce = self.state.compute_environments.get(node.ce_name)
            rate = (ce.spot_interruption_rate if ce else 0.0) or self.state.config.spot_interruption_rate
            if rate > 0 and self.rng.random() < 1 - math.exp(-rate * elapsed / 60.0):
                self.reclaim_node(node)

    def _delete_finished_pods(self, now: float) -> None:
        retention = self.state.config.pod_retention_seconds
        for pod in list(self.state.pods.values()):
            if pod.finished_at is not None and now - pod.finished_at >= retention:
                self.state.remove(pod)
                self.logs.forget_pod(pod.name)
