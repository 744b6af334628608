"""The scheduler: moves jobs through their lifecycle, places pods on nodes and reacts to pod exits.

It runs as one task on the engine's event loop. Each pass (:meth:`Scheduler.tick`) is driven by events
(a submit, a pod exit, an API change, the clock moving) and does only the work those events made
necessary, so its cost follows what changed, not how many jobs exist:

- admitting SUBMITTED jobs and settling PENDING ones (:mod:`.dependencies`: only the dependents of jobs
  that just ended are looked at);
- placing RUNNABLE jobs, queues by priority, each queue FIFO or fair-share (:mod:`.fairshare`); a walk
  stops after a few jobs find no room;
- scaling compute environments (:mod:`.scaling`);
- time-driven work from one deadline heap (:mod:`.timers`): attempt timeouts, SIGKILL after the grace
  period, ``jobStateTimeLimitActions``, pod deletion after the retention time.

Attempt start and finish (eksAttempts, retry decisions) live in :mod:`.attempts`.
"""

from __future__ import annotations

import asyncio
import random
import time
import traceback
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

from .attempts import AttemptBook, TIMEOUT_REASON, host_terminated_reason
from .blocked import JOB_RESOURCE_REQUIREMENT_REASON, BlockedJobs
from .capacity import CapacityManager
from .faults import CapacityFault, CapacityFaults, PodStartDelays
from .dependencies import DEPENDENCY_FAILED_REASON, DependencyTracker
from .fairshare import FairShareBook, fifo_candidates
from .lifecycle import transition
from ..store.logs import LogStore
from ..store.models import TERMINAL_STATUSES, ComputeEnvironment, Job, JobQueue, JobStatus as S, Node
from .retention import JobRetention
from ..runtime.containment import CgroupRoot
from ..runtime.process import ProcessRuntime
from ..runtime.process_registry import ProcessRegistry
from .scaling import Demand, Scaler
from ..resources import pod_requests
from ..store.state import EngineState
from .timers import Deadlines

__all__ = [
    "Scheduler",
    "host_terminated_reason",
    "TIMEOUT_REASON",
    "DEPENDENCY_FAILED_REASON",
    "RESOURCE_REQUIREMENT_REASON",
    "time_limit_reason",
    "queue_deleted_reason",
]

RESOURCE_REQUIREMENT_REASON = JOB_RESOURCE_REQUIREMENT_REASON  # the name this module exported before .blocked
_MISSES_PER_QUEUE = 16  # jobs that find no room before a queue's walk stops
_UNFIT_PER_QUEUE = 64  # jobs too large for every CE stepped over before a queue's walk stops
_DEMAND_PER_CE = 500
_TIME_LIMIT_RECHECK_SECONDS = 60.0
_FLUSH_INTERVAL = 0.1  # seconds between writes of the scheduler's changes while passes follow each other


def queue_deleted_reason(queue_name: str) -> str:
    """statusReason of a job ended because its queue was deleted (the engine's wording; AWS documents the
    termination, not its reason text)."""
    return f"Job queue {queue_name} was deleted"


def time_limit_reason(reason: str) -> str:
    """statusReason of a job cancelled by a queue's ``jobStateTimeLimitActions``."""
    return f"Canceled by JobStateTimeLimit action due to reason: {reason}"


class Scheduler:
    def __init__(
        self,
        state: EngineState,
        logs: LogStore,
        work_root: Path,
        metrics: Any = None,
        *,
        registry: ProcessRegistry | None = None,
        cgroups: CgroupRoot | None = None,
    ) -> None:
        self.state = state
        self.logs = logs
        self.metrics = metrics
        self.rng = random.Random(state.config.random_seed)
        self.capacity_faults = CapacityFaults()
        self.pod_start_delays = PodStartDelays()
        self.capacity = CapacityManager(state, self.rng, self.capacity_faults)
        self.deps = DependencyTracker(state, self._job_ended)
        self.fairshare = FairShareBook(state)
        self.scaler = Scaler(state, self.capacity, self.rng, self.reclaim_node, self.end_queue_jobs)
        self.timers = Deadlines()
        self._runtime = ProcessRuntime(
            work_root,
            self._on_output_line,
            self._on_pod_exit,
            grace_seconds=state.config.termination_grace_seconds,
            registry=registry,
            cgroups=cgroups,
        )
        self.attempts = AttemptBook(
            state,
            logs=logs,
            capacity=self.capacity,
            fairshare=self.fairshare,
            deps=self.deps,
            timers=self.timers,
            runtime=self._runtime,
            requests_of=self.requests_of,
            api_address=lambda: self.api_address,
            start_delay=self.pod_start_delays.of,
            remove_pod=self.remove_pod,
            metrics=metrics,
        )
        self.retention = JobRetention(state, self._job_removed)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False
        self._requests: dict[str, tuple[float, int, int]] = {}
        self._last_tick = state.clock.now()
        self._last_flush = 0.0
        self.passes = 0  # scheduler passes made (tests wait on it to know the engine looked again)
        self.jobs_examined = 0  # RUNNABLE jobs offered to compute environments, over all passes
        self.blocked = BlockedJobs(state, self.capacity, self.queue_ces, self.requests_of)
        # (host, port) of the engine's Kubernetes API for the containers' KUBERNETES_* variables; set by
        # whoever serves the engine (Engine.set_api_address)
        self.api_address: tuple[str, int] | None = None

    @property
    def runtime(self) -> ProcessRuntime:
        """What runs the pods' containers (the process runtime, or one the engine puts in its place)."""
        return self._runtime

    @runtime.setter
    def runtime(self, runtime: ProcessRuntime) -> None:
        self._runtime = runtime
        self.attempts.runtime = runtime

    # -- injected faults (admin API, tests; safe from another thread) ------------------------------------------
    def set_insufficient_capacity(self, faults: list[CapacityFault]) -> None:
        """Replace the insufficient-capacity faults (:mod:`.faults`); ``[]`` removes them all."""
        self.capacity_faults.set(faults)
        self.wake_threadsafe()

    def set_pod_start_delay(self, seconds: float, compute_environment: str | None = None) -> None:
        """Seconds placed pods stay Pending/ContainerCreating (engine-wide, or for one CE; 0 removes it)."""
        self.pod_start_delays.set(seconds, compute_environment)
        self.wake_threadsafe()

    # -- loop ---------------------------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def wake_threadsafe(self) -> None:
        """Wake the scheduler from another thread (tests, the CLI)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.recover()
        while not self._stopped:
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the loop must survive a bad pass; the error is reported
                traceback.print_exc()
            timeout = self._idle_wait()
            if self.state.dirty_count:
                timeout = min(timeout, _FLUSH_INTERVAL)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            except asyncio.TimeoutError:
                self._flush(force=True)
            self._wake.clear()

    def _idle_wait(self) -> float:
        """How long the loop may sleep before time-driven work is due (at most a second)."""
        if self.state.clock.is_manual:
            return 0.2 if self.state.config.spot_interruption_rate or self.state.status_index.count(S.RUNNABLE) else 1.0
        now = self.state.clock.now()
        due = [
            t
            for t in (self.timers.next_due(), self.scaler.next_node_ready_at(), self.attempts.next_start_at())
            if t is not None
        ]
        wait = min([1.0] + [max(0.01, t - now) for t in due])
        if self.state.nodes:
            wait = min(wait, max(0.05, self.state.config.node_idle_seconds / 4))
        return wait

    async def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        await self.runtime.shutdown()
        self.state.flush()
        self.logs.flush()

    def recover(self) -> None:
        """After a restart: attempts that were running died with their node; follow their retry strategy.
        (The engine killed what was left of their processes before this: ``Engine`` start-up,
        :func:`~..runtime.process_registry.reap_previous_run`.)"""
        self.deps.recheck.update(self.state.status_index.ids(S.PENDING))
        for job_id in self.state.status_index.ids(S.STARTING) + self.state.status_index.ids(S.RUNNING):
            job = self.state.jobs[job_id]
            instance = job.instance_id or "i-" + job_id.replace("-", "")[:17]
            self.attempts.lost_host(job, host_terminated_reason(instance))
        self.state.flush()

    # -- one pass ------------------------------------------------------------------------------------------
    def tick(self) -> None:
        now = self.state.clock.now()
        elapsed, self._last_tick = max(0.0, now - self._last_tick), now
        self.scaler.settle_compute_environments()
        self.deps.admit_submitted()
        self.deps.resolve_pending()
        self._take_newly_runnable(now)
        self.scaler.nodes_ready(now)
        self.attempts.start_due(now)  # pods placed on earlier passes: Pending -> Running
        demand = self._place_runnable()
        self.scaler.scale(now, demand)
        self.timers.fire(now, self._on_deadline)
        self.deps.resolve_pending()
        self.scaler.spot_interruptions(elapsed)
        self.fairshare.decay(elapsed)
        self.retention.maybe_sweep(now)
        self._flush()
        self.passes += 1
        next_start = self.attempts.next_start_at()
        if (
            self.state.status_index.newly_runnable
            or self.state.status_index.count(S.SUBMITTED)
            or (next_start is not None and next_start <= now)
        ):
            self.wake()  # jobs freed late in this pass get placed, pods placed in it started, at once

    def _flush(self, force: bool = False) -> None:
        """Write what the pass changed, at most every ``_FLUSH_INTERVAL`` seconds while busy.

        Nothing a client saw can be lost by waiting: every API response flushes all dirty records (the
        scheduler's too) before it leaves, and changes no one has seen yet are redone after a restart
        (a lost attempt fails as a lost host and follows its retry strategy).
        """
        now = time.monotonic()
        if force or now - self._last_flush >= _FLUSH_INTERVAL:
            self.state.flush()
            self.logs.flush()
            self._last_flush = now

    def _take_newly_runnable(self, now: float) -> None:
        index = self.state.status_index
        fresh, index.newly_runnable = index.newly_runnable, []
        for job_id in fresh:
            job = self.state.jobs.get(job_id)
            if job is None or job.status != S.RUNNABLE:
                continue
            self.fairshare.job_runnable(job)
            queue = self.state.find_queue(job.job_queue_arn)
            actions = (queue.spec.get("jobStateTimeLimitActions") if queue else None) or []
            if actions:
                first = min(int(a["maxTimeSeconds"]) for a in actions)
                self.timers.add((job.runnable_since or now) + first, "time_limit", job.job_id, job.runnable_since)
        self.blocked.recheck()  # a CE grew, became VALID, a fault went: reasons that no longer hold go

    # -- placement --------------------------------------------------------------------------------------------
    def requests_of(self, job: Job) -> tuple[float, int, int]:
        cached = self._requests.get(job.job_id)
        if cached is None:
            cached = self._requests[job.job_id] = pod_requests(job.pod_properties)
        return cached

    def queue_ces(self, queue: JobQueue) -> list[ComputeEnvironment]:
        """The queue's compute environments in order (any state)."""
        ces = (self.state.find_compute_environment(arn) for arn in queue.compute_environment_arns)
        return [ce for ce in ces if ce is not None]

    def _place_runnable(self) -> Demand:
        """Place RUNNABLE jobs, queues by priority; return the unmet demand per CE name for scaling."""
        demand: Demand = defaultdict(list)
        queues = sorted(self.state.job_queues.values(), key=lambda q: -q.priority)
        for queue in queues:
            runnable = self.state.status_index.runnable_by_queue.get(queue.arn)
            # a DISABLED queue accepts no new jobs, but "jobs already in the queue can finish" (UpdateJobQueue)
            if not runnable or queue.status not in ("VALID", "UPDATING"):
                continue
            all_ces = self.queue_ces(queue)
            ces = [ce for ce in all_ces if ce.usable]
            if not ces and not (all_ces and all(ce.status == "INVALID" for ce in all_ces)):
                continue  # DISABLED or settling CEs: the jobs wait, with no reason (an all-INVALID queue gets one)
            policy = self.fairshare.policy_of(queue)
            if policy is not None:
                max_vcpus = sum(float(ce.compute_resources.get("maxvCpus", 0)) for ce in ces)
                candidates = self.fairshare.queues[queue.arn].candidates(
                    self.state, policy, max_vcpus, lambda j: self.requests_of(j)[0]
                )
            else:
                candidates = fifo_candidates(self.state, runnable)
            self._walk_queue(queue, all_ces, ces, candidates, demand)
        return demand

    def _walk_queue(
        self,
        queue: JobQueue,
        all_ces: list[ComputeEnvironment],
        ces: list[ComputeEnvironment],
        candidates: Iterator[Job],
        demand: Demand,
    ) -> None:
        """Offer the queue's jobs to its usable CEs until a few find no room; note the unmet demand and, for
        the jobs that cannot be placed for a reason AWS names, that reason (:mod:`.blocked`)."""
        misses = unfit = 0
        for job in candidates:
            self.jobs_examined += 1
            if job.status != S.RUNNABLE:
                continue
            req = cpu, mem, gpu = self.requests_of(job)
            misfit = self.blocked.misfit_reason(all_ces, req)
            if misfit is not None:  # stepped over: the jobs behind it still run
                self.blocked.mark(job, misfit)
                unfit += 1
                if unfit >= _UNFIT_PER_QUEUE:
                    break
                continue
            fitting = [ce for ce in ces if self.capacity.can_ever_fit(ce, cpu, mem, gpu)]
            placed = False
            for ce in fitting:
                node = self.capacity.find_ready_node(ce, cpu, mem, gpu)
                if node is not None:
                    self.attempts.place(job, ce, node)
                    placed = True
                    break
            if placed:
                misses = 0
                continue
            target = self.blocked.launch_target(fitting, req)
            if target is not None:
                if len(demand[target.name]) < _DEMAND_PER_CE:
                    demand[target.name].append(req)
                self.blocked.mark(job, None)
            else:
                self.blocked.mark(job, self.blocked.wait_reason(all_ces, fitting, req))
            misses += 1
            if misses >= _MISSES_PER_QUEUE or (ces and not self._any_room(ces)):
                break

    def _any_room(self, ces: list[ComputeEnvironment]) -> bool:
        """Whether a ready node of these CEs has any room left, or one of them can still grow."""
        for ce in ces:
            if self.capacity.vcpus_of(ce) < int(ce.compute_resources.get("maxvCpus", 0)):
                return True
            if self.capacity.find_ready_node(ce, 0.25, 4, 0) is not None:
                return True
        return False

    # -- pod output and exit ----------------------------------------------------------------------------------
    def _on_output_line(self, pod_name: str, container: str, line: str, source: str) -> None:
        self.attempts.output(pod_name, container, line, source)

    def _on_pod_exit(self, pod_name, init_results, results, stop_reason) -> None:
        if self._stopped:
            return  # the engine is going down: on restart these attempts fail as a lost host
        self.attempts.pod_exited(pod_name, init_results, results, stop_reason)
        self.wake()

    def _job_ended(self, job: Job) -> None:
        self._requests.pop(job.job_id, None)
        if self.metrics is not None:
            self.metrics.job_finished(job)

    def _job_removed(self, job: Job) -> None:
        """Retention removed the job: forget what the scheduler kept about it."""
        self._requests.pop(job.job_id, None)
        self.blocked.forget(job.job_id)
        self.deps.dependents.pop(job.job_id, None)

    # -- stopping ---------------------------------------------------------------------------------------------
    def stop_pod(self, pod_name: str, reason: str, *, force: bool = False) -> None:
        """SIGTERM the pod's processes now and SIGKILL them after the grace period (engine clock); a pod still
        Pending (no process yet) ends at once."""
        if self.attempts.is_pending(pod_name):
            self.attempts.end_pending(pod_name, reason)
            return
        self.runtime.stop(pod_name, reason, force=force)
        if not force:
            self.timers.add(self.state.clock.now() + self.state.config.termination_grace_seconds, "kill", pod_name)

    def remove_pod(self, pod_name: str) -> None:
        """The pod is gone: its record, its in-memory log lines (CloudWatch keeps its copy) and its work dir."""
        pod = self.state.pods.get(pod_name)
        if pod is None:
            return
        self.state.remove(pod)
        self.logs.forget_pod(pod_name)
        self.runtime.forget(pod_name)

    def stop_job(self, job: Job, reason: str, *, terminate: bool) -> None:
        """TerminateJob / CancelJob: stop a running pod, or fail a job that has not started."""
        if job.status in TERMINAL_STATUSES:
            return
        if job.status in (S.STARTING, S.RUNNING) and job.pod_name:
            if not terminate:
                return  # CancelJob leaves STARTING/RUNNING jobs alone
            job.is_terminated = True
            self.state.touch(job)
            self.stop_pod(job.pod_name, reason)
            return
        if job.is_array_parent:
            job.is_cancelled = True
            self.state.touch(job)
            return  # the parent follows its children
        job.is_cancelled = True
        transition(self.state, job, S.FAILED, reason)
        self.deps.job_ended(job)

    def end_queue_jobs(self, queue: JobQueue) -> bool:
        """The queue was deleted: terminate its jobs (RUNNING/STARTING pods are stopped, the others fail now).
        Returns whether every job of the queue has ended, so that the queue can go."""
        reason = queue_deleted_reason(queue.name)
        index = self.state.status_index
        all_ended = True
        for status in (S.SUBMITTED, S.PENDING, S.RUNNABLE, S.STARTING, S.RUNNING):
            for job_id in list(index.by_status[status]):
                job = self.state.jobs.get(job_id)
                if job is None or job.job_queue_arn != queue.arn:
                    continue
                if not (job.is_terminated and job.pod_name):  # a pod already told to stop is not told again
                    self.stop_job(job, reason, terminate=True)
                if job.status not in TERMINAL_STATUSES:
                    all_ended = False
        return all_ended

    def reclaim_node(self, node: Node) -> list[str]:
        """A Spot interruption (or a lost host): every pod on the node dies; the node goes away."""
        reason = host_terminated_reason(node.instance_id)
        pods = [p.name for p in self.state.pods.values() if p.node_name == node.name and p.finished_at is None]
        for pod_name in pods:
            self.stop_pod(pod_name, reason, force=True)
        self.scaler.forget_node(node)
        self.capacity.terminate(node)
        if self.metrics is not None:
            self.metrics.spot_reclaimed(node)
        self.wake()
        return pods

    # -- time-driven ---------------------------------------------------------------------------------------
    def _on_deadline(self, kind: str, key: str, token: Any) -> None:
        now = self.state.clock.now()
        if kind == "timeout":
            job = self.state.jobs.get(key)
            if job is not None and job.status == S.RUNNING and job.attempt_number == token and job.pod_name:
                self.stop_pod(job.pod_name, TIMEOUT_REASON)
        elif kind == "kill":
            self.runtime.kill(key)
        elif kind == "pod_delete":
            self.remove_pod(key)
        elif kind == "time_limit":
            self._time_limit(key, token, now)

    def _time_limit(self, job_id: str, runnable_since: float | None, now: float) -> None:
        job = self.state.jobs.get(job_id)
        if job is None or job.status != S.RUNNABLE or job.runnable_since != runnable_since:
            return
        queue = self.state.find_queue(job.job_queue_arn)
        actions = (queue.spec.get("jobStateTimeLimitActions") if queue else None) or []
        waited = now - (job.runnable_since or now)
        for action in actions:
            if action.get("state", "RUNNABLE") != "RUNNABLE" or action.get("action", "CANCEL") != "CANCEL":
                continue
            if waited >= int(action["maxTimeSeconds"]) and (job.status_reason or "").startswith(action["reason"]):
                job.is_cancelled = True
                transition(self.state, job, S.FAILED, time_limit_reason(action["reason"]))
                self.deps.job_ended(job)
                return
        if actions:
            self.timers.add(now + _TIME_LIMIT_RECHECK_SECONDS, "time_limit", job_id, runnable_since)
