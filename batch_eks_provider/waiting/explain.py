"""The line that says why a Batch job is still waiting, from the cheapest calls that can tell.

:class:`WaitExplainer` (one per waiter) decides when a line is due: once the job has been PENDING, RUNNABLE or
STARTING for ``explain_after`` seconds, then at most every ``max(explain_after, MIN_EXPLAIN_INTERVAL)``.
It asks a :class:`WaitFacts` source only for what the job's status needs:

- PENDING: the upstream jobs of ``dependsOn`` (their names and states);
- RUNNABLE: the job's own ``statusReason`` (a blocked queue's reason, in plain words), the queue and its
  compute environments (DISABLED, INVALID, at ``maxvCpus``) and ``GetJobQueueSnapshot`` (the job's position,
  the jobs ahead of it). These are per queue, not per job: :data:`queue_facts` keeps them for
  ``MIN_EXPLAIN_INTERVAL`` for every waiter of the process (a triggerer waiting on 500 jobs of one queue makes
  one snapshot per interval);
- STARTING: the pod's state from the Kubernetes API (image pull, node not ready).

:func:`explain` turns the entry and the facts into the line; it makes no call itself.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

from .policy import MIN_EXPLAIN_INTERVAL
from .rules import blocked_code

__all__ = [
    "BLOCKED_REASONS",
    "FactsSource",
    "HookFacts",
    "QueueFacts",
    "QueueFactsCache",
    "WaitExplainer",
    "explain",
    "plain_reason",
    "queue_facts",
]

BLOCKED_REASONS = {
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT": (
        "no compute environment of the queue has an instance type big enough for the job's vCPUs, memory or GPUs; "
        "it can never start there"
    ),
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE": (
        "the job needs more vCPUs than the maxvCpus of the queue's compute environments; it can never start there"
    ),
    "MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS": "AWS Batch's service role lacks a permission it needs to launch nodes",
    "MISCONFIGURATION:EC2_LAUNCH_TEMPLATE": "the compute environment's launch template cannot be used",
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY": (
        "EC2 has no capacity now for the instance types asked for; Batch keeps trying (a Spot queue may wait long)"
    ),
}
"""A blocked queue's ``statusReason`` code, in plain words (AWS's own text follows in the line)."""
SNAPSHOT_JOBS_NAMED = 3
"""How many of the jobs ahead a line names (the rest are counted)."""
UPSTREAM_NAMED = 5


def plain_reason(status_reason: str | None) -> str | None:
    """A blocked queue's reason in plain words with AWS's text after it; ``None`` for other reasons."""
    code = blocked_code(status_reason)
    if code is None:
        return None
    words = BLOCKED_REASONS.get(code, "the job queue is blocked")
    return f"{words} ({status_reason})"


def _short(ref: str | None) -> str:
    return (ref or "").rsplit("/", 1)[-1]


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@dataclass
class QueueFacts:
    """What one queue looks like now: its DescribeJobQueues entry, its compute environments (in order) and its
    GetJobQueueSnapshot answer (``None`` where the call failed or is not offered)."""

    queue: dict[str, Any] | None
    compute_environments: list[dict[str, Any]] = field(default_factory=list)
    snapshot: dict[str, Any] | None = None


class FactsSource(Protocol):
    """Where an explainer reads the facts a line needs (each method may call AWS or Kubernetes)."""

    def upstream(self, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def queue(self, job_queue: str) -> QueueFacts: ...

    def pod(self, job: Mapping[str, Any]) -> dict[str, Any] | None: ...


class QueueFactsCache:
    """Queue facts per (endpoint, region, queue) for ``ttl`` seconds, shared by every waiter of the process and
    loaded once per key even when several threads ask together."""

    def __init__(self, ttl: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._key_locks: dict[Any, threading.Lock] = {}
        self._entries: dict[Any, tuple[float, QueueFacts]] = {}

    @property
    def ttl(self) -> float:
        return MIN_EXPLAIN_INTERVAL if self._ttl is None else self._ttl

    def get(self, key: Any, load: Callable[[], QueueFacts]) -> QueueFacts:
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            entry = self._entries.get(key)
            if entry is not None and self._clock() - entry[0] < self.ttl:
                return entry[1]
            facts = load()
            self._entries[key] = (self._clock(), facts)
            return facts

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


queue_facts = QueueFactsCache()
"""The process's queue facts (a worker's sync waits and a triggerer's deferred waits alike)."""


class HookFacts:
    """Facts read through the provider's hooks: the Batch hook for jobs and queues, the pod hook for pods.

    :param batch_hook: Makes the :class:`~batch_eks_provider.hooks.batch.BatchEksHook` (called on first use: the
        triggerer builds hooks in a thread).
    :param pod_hook: Makes the :class:`~batch_eks_provider.hooks.pods.BatchEksPodHook`; ``None``: no pod states.
    :param known_jobs: Entries already read (the triggerer's poller passes what it described last cycle), so
        upstream jobs it knows cost no call.
    """

    def __init__(
        self,
        batch_hook: Callable[[], Any],
        pod_hook: Callable[[], Any] | None = None,
        known_jobs: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self._make_batch_hook, self._make_pod_hook = batch_hook, pod_hook
        self._batch_hook: Any = None
        self._pod_hook: Any = None
        self._known_jobs = known_jobs or dict

    @property
    def batch_hook(self) -> Any:
        if self._batch_hook is None:
            self._batch_hook = self._make_batch_hook()
        return self._batch_hook

    def upstream(self, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        known = self._known_jobs()
        found = {job_id: known[job_id] for job_id in job_ids if job_id in known}
        missing = [job_id for job_id in job_ids if job_id not in found]
        if missing:
            found.update(self.batch_hook.describe_jobs(missing))
        return found

    def queue(self, job_queue: str) -> QueueFacts:
        hook = self.batch_hook
        key = (hook.conn_config.endpoint_url, hook.conn_region_name, job_queue)
        return queue_facts.get(key, lambda: QueueFacts(*hook.queue_facts(job_queue)))

    def pod(self, job: Mapping[str, Any]) -> dict[str, Any] | None:
        """The running attempt's pod: phase, node and each container's waiting reason (one Kubernetes GET)."""
        if self._make_pod_hook is None:
            return None
        if self._pod_hook is None:
            self._pod_hook = self._make_pod_hook()
        ref = self._pod_hook.current_pod(dict(job))
        pod = self._pod_hook.core_v1(ref.cluster_name).read_namespaced_pod(ref.pod_name, ref.namespace)
        containers = []
        for status in list(pod.status.init_container_statuses or []) + list(pod.status.container_statuses or []):
            waiting = status.state.waiting if status.state else None
            containers.append(
                {"name": status.name, "reason": waiting.reason if waiting else None, "message": waiting.message if waiting else None}
            )
        return {"name": ref.pod_name, "phase": pod.status.phase, "node": pod.spec.node_name, "containers": containers}


def _pending_line(job: Mapping[str, Any], facts: FactsSource) -> str:
    ids = [d.get("jobId") for d in job.get("dependsOn") or [] if d.get("jobId")]
    if not ids:
        return "it waits for its dependencies to be resolved"
    upstream = facts.upstream(ids)
    named = []
    for job_id in ids[:UPSTREAM_NAMED]:
        entry = upstream.get(job_id)
        named.append(f"{entry.get('jobName')} ({job_id}) {entry.get('status')}" if entry else f"{job_id} (unknown to DescribeJobs)")
    more = f" and {len(ids) - UPSTREAM_NAMED} more" if len(ids) > UPSTREAM_NAMED else ""
    return f"it waits on {len(ids)} upstream job(s): " + ", ".join(named) + more


def _queue_problems(facts: QueueFacts) -> list[str]:
    problems = []
    queue = facts.queue
    if queue is None:
        return ["its job queue does not exist any more"]
    name = queue.get("jobQueueName")
    if queue.get("state") != "ENABLED":
        problems.append(f"job queue {name} is {queue.get('state')} (it schedules no job)")
    if queue.get("status") == "INVALID":
        problems.append(f"job queue {name} is INVALID: {queue.get('statusReason')}")
    usable = []
    for ce in facts.compute_environments:
        ce_name = ce.get("computeEnvironmentName")
        if ce.get("state") != "ENABLED":
            problems.append(f"compute environment {ce_name} is {ce.get('state')}")
        elif ce.get("status") == "INVALID":
            problems.append(f"compute environment {ce_name} is INVALID: {ce.get('statusReason')}")
        else:
            usable.append(ce)
    if facts.compute_environments and not usable:
        problems.append("no compute environment of the queue can run jobs")
    used = _vcpus_in_use(facts)
    limit = sum((ce.get("computeResources") or {}).get("maxvCpus", 0) for ce in usable)
    if usable and used is not None and limit and used >= limit:
        problems.append(f"its compute environments are at maxvCpus ({used:g} of {limit} vCPUs in use)")
    return problems


def _vcpus_in_use(facts: QueueFacts) -> float | None:
    """vCPUs the queue's compute environments run now: their ``desiredvCpus`` (shared with other queues, which is
    what makes them full), else the queue's own usage from the snapshot."""
    desired = [(ce.get("computeResources") or {}).get("desiredvCpus") for ce in facts.compute_environments]
    if any(d is not None for d in desired):
        return float(sum(d for d in desired if d is not None))
    usage = ((facts.snapshot or {}).get("queueUtilization") or {}).get("totalCapacityUsage") or []
    for entry in usage:
        if str(entry.get("capacityUnit", "")).lower() in ("vcpu", "cpu"):  # VCPU on EC2, cpu on EKS
            return float(entry.get("quantity", 0))
    return None


def _position_line(job: Mapping[str, Any], facts: QueueFacts) -> str | None:
    front = (facts.snapshot or {}).get("frontOfQueue") or {}
    jobs = front.get("jobs") or []
    if not facts.snapshot:
        return None
    arn = job.get("jobArn")
    arns = [entry.get("jobArn") for entry in jobs]
    if arn not in arns:
        return f"it is not among the first {len(jobs)} job(s) of the queue's snapshot" if jobs else None
    position = arns.index(arn) + 1
    if position == 1:
        return "it is first in the queue (next to be placed when capacity allows)"
    ahead = [_short(a) for a in arns[: position - 1]]
    named = ", ".join(ahead[:SNAPSHOT_JOBS_NAMED]) + (f" and {len(ahead) - SNAPSHOT_JOBS_NAMED} more" if len(ahead) > SNAPSHOT_JOBS_NAMED else "")
    return f"it is number {position} in the queue, behind {named}"


def _fair_share_line(job: Mapping[str, Any], facts: QueueFacts) -> str | None:
    share = job.get("shareIdentifier")
    if not share:
        return None
    priority = job.get("schedulingPriority")
    line = f"fair share: identifier {share!r}" + (f", priority {priority}" if priority is not None else "")
    utilization = (((facts.snapshot or {}).get("queueUtilization") or {}).get("fairshareUtilization") or {})
    for entry in utilization.get("topCapacityUtilization") or []:
        if entry.get("shareIdentifier") == share:
            usage = ", ".join(f"{u.get('quantity', 0):g} {u.get('capacityUnit')}" for u in entry.get("capacityUsage") or [])
            line += f" (using {usage} now)"
    return line


def _runnable_line(job: Mapping[str, Any], facts: FactsSource) -> str:
    parts = []
    blocked = plain_reason(job.get("statusReason"))
    if blocked:
        parts.append(blocked)
    queue = facts.queue(job.get("jobQueue", ""))
    parts.extend(_queue_problems(queue))
    position = _position_line(job, queue)
    if position:
        parts.append(position)
    share = _fair_share_line(job, queue)
    if share:
        parts.append(share)
    if not parts:
        parts.append("it waits for a node of the queue's compute environments (capacity is being added or is in use)")
    return "; ".join(parts)


def _starting_line(job: Mapping[str, Any], facts: FactsSource) -> str:
    pod = facts.pod(job)
    pod_name = ((job.get("eksProperties") or {}).get("podProperties") or {}).get("podName")
    if not pod:
        return f"its pod {pod_name or '(not named yet)'} is being created"
    waiting = [
        f"container {c['name']} waiting ({c['reason']}{': ' + c['message'] if c.get('message') else ''})"
        for c in pod.get("containers", [])
        if c.get("reason")
    ]
    where = f" on node {pod['node']}" if pod.get("node") else " (not scheduled on a node yet)"
    return f"its pod {pod.get('name')} is {pod.get('phase')}{where}" + (": " + ", ".join(waiting) if waiting else "")


def explain(job: Mapping[str, Any], waited: float, facts: FactsSource) -> str:
    """One line: which job, in which status for how long, and why (from ``facts``)."""
    status = job.get("status")
    head = f"AWS Batch job {job.get('jobName')} ({job.get('jobId')}) has been {status} for {_duration(waited)}"
    if status == "PENDING":
        why = _pending_line(job, facts)
    elif status == "RUNNABLE":
        why = _runnable_line(job, facts)
    elif status == "STARTING":
        why = _starting_line(job, facts)
    else:
        why = "Batch has not evaluated it yet"
    return f"{head}: {why}"


class WaitExplainer:
    """Decide when a waiting job deserves a line, and make it.

    :param explain_after: Seconds in one status before the first line; ``None`` turns lines off.
    :param facts: Where the facts come from (:class:`HookFacts`).
    :param clock: The waiter's clock (tests pass a fake one).
    """

    EXPLAINED_STATUSES = ("PENDING", "RUNNABLE", "STARTING")

    def __init__(self, explain_after: float | None, facts: FactsSource, clock: Callable[[], float] = time.monotonic) -> None:
        self.explain_after = explain_after
        self._facts = facts
        self._clock = clock
        self._last_line_at: float | None = None

    def due(self, job: Mapping[str, Any], waited_in_status: float) -> bool:
        if self.explain_after is None or job.get("status") not in self.EXPLAINED_STATUSES:
            return False
        if waited_in_status < self.explain_after:
            return False
        every = max(self.explain_after, MIN_EXPLAIN_INTERVAL)
        return self._last_line_at is None or self._clock() - self._last_line_at >= every

    def line(self, job: Mapping[str, Any], waited_in_status: float) -> str | None:
        """The line to log now, or ``None`` (not due). Facts that cannot be read are said so, never raised."""
        if not self.due(job, waited_in_status):
            return None
        self._last_line_at = self._clock()
        try:
            return explain(job, waited_in_status, self._facts)
        except Exception as error:  # noqa: BLE001 - an explanation is a courtesy; the wait goes on
            return (
                f"AWS Batch job {job.get('jobName')} ({job.get('jobId')}) has been {job.get('status')} for "
                f"{_duration(waited_in_status)} (why could not be read: {error})"
            )
