"""The engine's in-memory state, its indexes and its write-back to the :class:`Store`.

All engine code runs on one asyncio event loop (the server's), so the state needs no locks: API handlers
and the scheduler take turns. Whatever changes a record calls :meth:`EngineState.touch` so that
:meth:`EngineState.flush` writes it before the response leaves or the scheduler pass ends.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..clock import Clock
from .models import (
    ComputeEnvironment,
    Job,
    JobStatus,
    JobDefinition,
    JobQueue,
    Node,
    Pod,
    SchedulingPolicy,
    record_from_dict,
    record_to_dict,
)
from .sqlite import Store

__all__ = ["EngineConfig", "EngineState", "StatusIndex", "EksCluster", "DEFAULT_EKS_VERSION", "SUPPORTED_EKS_VERSIONS"]

DEFAULT_EKS_VERSION = "1.30"
# Kubernetes versions AWS Batch accepts for EKS compute environments (standard and extended support).
SUPPORTED_EKS_VERSIONS = ("1.24", "1.25", "1.26", "1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33")

_KINDS: dict[str, type] = {
    "job_definition": JobDefinition,
    "compute_environment": ComputeEnvironment,
    "job_queue": JobQueue,
    "scheduling_policy": SchedulingPolicy,
    "job": Job,
    "node": Node,
    "pod": Pod,
}
_KIND_OF_TYPE: dict[type, str] = {cls: kind for kind, cls in _KINDS.items()}
# Nodes and pods live only as long as the engine process: after a restart they are gone, as the
# processes that ran the pods are.
_PERSISTED_KINDS = ("job_definition", "compute_environment", "job_queue", "scheduling_policy", "job")


@dataclass
class EngineConfig:
    """Settings of one engine; `batch-eks local serve` flags map onto these."""

    region: str = "us-east-1"
    account_id: str = "123456789012"
    node_startup_seconds: float = 0.2
    pod_retention_seconds: float = 30.0
    node_idle_seconds: float = 5.0
    throttle_rate: float = 0.0
    server_error_rate: float = 0.0
    spot_interruption_rate: float = 0.0  # per Spot node per minute
    termination_grace_seconds: float = 2.0
    # terminal jobs older than this leave memory and SQLite (AWS keeps them at least 7 days); 0/None: never
    job_retention_seconds: float | None = 7 * 24 * 3600.0
    random_seed: int | None = None
    # Kubernetes version of each EKS cluster the engine knows, by cluster name; clusters not listed run
    # DEFAULT_EKS_VERSION. Tests set an unsupported version to see a compute environment go INVALID.
    eks_cluster_versions: dict[str, str] = field(default_factory=dict)
    # names of the engine's own environment variables copied into every container (`--pass-env NAME`);
    # nothing else of the engine's environment reaches a job
    pass_env: tuple[str, ...] = ()
    # container output kept as CloudWatch events: per container, and in all (SQLite); past either, the rest
    # of that container's output is dropped after one marker line (docs/pods-and-logs.md)
    log_bytes_per_container: int = 100 * 1024 * 1024
    log_bytes_total: int = 1024 * 1024 * 1024

    def arn(self, resource: str) -> str:
        return f"arn:aws:batch:{self.region}:{self.account_id}:{resource}"


@dataclass
class EksCluster:
    """An EKS cluster as the engine knows it (what EKS ``DescribeCluster`` reports)."""

    name: str
    arn: str
    version: str
    created_at: float


class StatusIndex:
    """Job ids by status, in the order they entered it (dicts keep insertion order); the RUNNABLE jobs of
    each queue; the jobs that became RUNNABLE since the scheduler last looked (``newly_runnable``), and the
    children of each array job counted by status (its ``statusSummary``), so that no scheduler pass and no
    DescribeJobs has to walk every job."""

    def __init__(self) -> None:
        self.by_status: dict[str, dict[str, None]] = {status: {} for status in JobStatus.ALL}
        self.runnable_by_queue: dict[str, dict[str, None]] = defaultdict(dict)
        self.newly_runnable: list[str] = []
        self.array_counts: dict[str, dict[str, int]] = {}

    def add(self, job: Job) -> None:
        self.by_status[job.status][job.job_id] = None
        if job.status == JobStatus.RUNNABLE:
            self.runnable_by_queue[job.job_queue_arn][job.job_id] = None
            self.newly_runnable.append(job.job_id)
        if job.parent_id is not None:
            counts = self.array_counts.get(job.parent_id)
            if counts is None:
                counts = self.array_counts[job.parent_id] = dict.fromkeys(JobStatus.ALL, 0)
            counts[job.status] += 1

    def move(self, job: Job, old: str, new: str) -> None:
        self.by_status[old].pop(job.job_id, None)
        self.by_status[new][job.job_id] = None
        if old == JobStatus.RUNNABLE:
            self.runnable_by_queue[job.job_queue_arn].pop(job.job_id, None)
        if new == JobStatus.RUNNABLE:
            self.runnable_by_queue[job.job_queue_arn][job.job_id] = None
            self.newly_runnable.append(job.job_id)
        if job.parent_id is not None:
            counts = self.array_counts[job.parent_id]
            counts[old] -= 1
            counts[new] += 1

    def discard(self, job: Job) -> None:
        """The job is gone (retention): drop it from every index, and an array parent's counts with it."""
        self.by_status[job.status].pop(job.job_id, None)
        self.runnable_by_queue.get(job.job_queue_arn, {}).pop(job.job_id, None)
        self.array_counts.pop(job.job_id, None)
        if job.parent_id is not None and job.parent_id in self.array_counts:
            self.array_counts[job.parent_id][job.status] -= 1

    def summary(self, parent_id: str) -> dict[str, int]:
        """The array job's ``statusSummary``: its children counted by status."""
        return dict(self.array_counts.get(parent_id) or dict.fromkeys(JobStatus.ALL, 0))

    def ids(self, status: str) -> list[str]:
        return list(self.by_status[status])

    def count(self, status: str) -> int:
        return len(self.by_status[status])


class EngineState:
    """Every record of one engine, keyed for the look-ups the API and the scheduler make."""

    def __init__(self, config: EngineConfig, store: Store, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.job_definitions: dict[str, JobDefinition] = {}  # arn -> definition
        self.compute_environments: dict[str, ComputeEnvironment] = {}  # name -> CE
        self.job_queues: dict[str, JobQueue] = {}  # name -> queue
        self.scheduling_policies: dict[str, SchedulingPolicy] = {}  # arn -> policy
        self.jobs: dict[str, Job] = {}  # id -> job
        self.nodes: dict[str, Node] = {}  # name -> node
        self.pods: dict[str, Pod] = {}  # name -> pod
        self.children: dict[str, list[str]] = defaultdict(list)  # array parent id -> child ids
        self.status_index = StatusIndex()
        self.eks_clusters: dict[str, EksCluster] = {}  # name -> cluster (not persisted: derived from CEs)
        self._dirty: dict[tuple[str, str], Any] = {}
        self._deleted: set[tuple[str, str]] = set()

    # -- persistence -----------------------------------------------------------------------------------
    def load(self) -> None:
        """Read every record back from the store (engine start-up)."""
        for kind in _PERSISTED_KINDS:
            for body in self.store.load(kind):
                record = record_from_dict(_KINDS[kind], body)
                self._index(kind, record)

    def _index(self, kind: str, record: Any) -> None:
        if kind == "job_definition":
            self.job_definitions[record.arn] = record
        elif kind == "compute_environment":
            self.compute_environments[record.name] = record
        elif kind == "job_queue":
            self.job_queues[record.name] = record
        elif kind == "scheduling_policy":
            self.scheduling_policies[record.arn] = record
        elif kind == "job":
            self.jobs[record.job_id] = record
            self.status_index.add(record)
            if record.parent_id:
                self.children[record.parent_id].append(record.job_id)
        elif kind == "node":
            self.nodes[record.name] = record
        elif kind == "pod":
            self.pods[record.name] = record

    @staticmethod
    def _key(kind: str, record: Any) -> str:
        if kind in ("job_definition", "scheduling_policy"):
            return record.arn
        if kind == "job":
            return record.job_id
        return record.name

    @staticmethod
    def _kind_of(record: Any) -> str:
        kind = _KIND_OF_TYPE.get(type(record))
        if kind is None:
            raise TypeError(f"Not an engine record: {record!r}")
        return kind

    def add(self, record: Any) -> None:
        kind = self._kind_of(record)
        self._index(kind, record)
        self.touch(record)

    def touch(self, record: Any) -> None:
        kind = self._kind_of(record)
        if kind not in _PERSISTED_KINDS:
            return
        key = (kind, self._key(kind, record))
        self._deleted.discard(key)
        self._dirty[key] = record

    def remove(self, record: Any) -> None:
        kind = self._kind_of(record)
        key = self._key(kind, record)
        table = {
            "job_definition": self.job_definitions,
            "compute_environment": self.compute_environments,
            "job_queue": self.job_queues,
            "scheduling_policy": self.scheduling_policies,
            "job": self.jobs,
            "node": self.nodes,
            "pod": self.pods,
        }[kind]
        table.pop(key, None)
        if kind not in _PERSISTED_KINDS:
            return
        self._dirty.pop((kind, key), None)
        self._deleted.add((kind, key))

    @property
    def dirty_count(self) -> int:
        return len(self._dirty) + len(self._deleted)

    def flush(self) -> None:
        """Write every record changed since the last flush in one transaction."""
        if not self._dirty and not self._deleted:
            return
        upserts = [(kind, key, record_to_dict(rec)) for (kind, key), rec in self._dirty.items()]
        deletes = list(self._deleted)
        self._dirty.clear()
        self._deleted.clear()
        self.store.write(upserts, deletes)

    # -- EKS clusters ------------------------------------------------------------------------------------
    def eks_cluster(self, name_or_arn: str) -> EksCluster:
        """The EKS cluster of that name (or ARN), created on first sight with the configured version."""
        name = name_or_arn.rsplit("/", 1)[-1]
        cluster = self.eks_clusters.get(name)
        if cluster is None:
            arn = name_or_arn if name_or_arn.startswith("arn:") else (
                f"arn:aws:eks:{self.config.region}:{self.config.account_id}:cluster/{name}"
            )
            cluster = self.eks_clusters[name] = EksCluster(
                name, arn, self.config.eks_cluster_versions.get(name, DEFAULT_EKS_VERSION), self.clock.now()
            )
        return cluster

    def set_eks_cluster_version(self, name: str, version: str) -> None:
        """Change a cluster's Kubernetes version (tests, the admin API); CEs re-check it on their next update."""
        self.config.eks_cluster_versions[name] = version
        self.eks_cluster(name).version = version

    # -- look-ups -----------------------------------------------------------------------------------------
    def find_queue(self, name_or_arn: str) -> JobQueue | None:
        name = name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn
        return self.job_queues.get(name)

    def find_compute_environment(self, name_or_arn: str) -> ComputeEnvironment | None:
        name = name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn
        return self.compute_environments.get(name)

    def find_job_definition(self, ref: str) -> JobDefinition | None:
        """Resolve ``name``, ``name:revision`` or an ARN; a bare name means the latest ACTIVE revision."""
        if ref.startswith("arn:"):
            return self.job_definitions.get(ref)
        name, _, revision = ref.partition(":")
        candidates = [d for d in self.job_definitions.values() if d.name == name]
        if revision:
            for d in candidates:
                if str(d.revision) == revision:
                    return d
            return None
        active = [d for d in candidates if d.status == "ACTIVE"]
        return max(active, key=lambda d: d.revision) if active else None
