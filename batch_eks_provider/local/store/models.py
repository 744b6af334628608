"""The engine's records: what Batch keeps about job definitions, queues, compute environments and jobs,
and what the simulated cluster keeps about nodes and pods.

Resources that Batch echoes back as they were created (job definitions, compute environments, job queues,
scheduling policies) keep their AWS wire dictionary in ``spec``; jobs, nodes and pods are plain snake_case
records that the API layer renders into wire shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "JobStatus",
    "TERMINAL_STATUSES",
    "JobDefinition",
    "ComputeEnvironment",
    "JobQueue",
    "SchedulingPolicy",
    "Job",
    "Node",
    "Pod",
    "record_to_dict",
    "record_from_dict",
]


class JobStatus:
    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    ALL = (SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING, SUCCEEDED, FAILED)


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})


@dataclass
class JobDefinition:
    arn: str
    name: str
    revision: int
    status: str  # ACTIVE | INACTIVE
    spec: dict[str, Any]  # the wire JobDefinition, without status/revision/arn


@dataclass
class ComputeEnvironment:
    name: str
    arn: str
    uuid: str
    spec: dict[str, Any]  # the wire ComputeEnvironmentDetail fields given at creation / update
    state: str = "ENABLED"
    status: str = "VALID"
    status_reason: str | None = None
    created_at: float = 0.0
    spot_interruption_rate: float = 0.0  # per node per minute, fault injection

    @property
    def compute_resources(self) -> dict[str, Any]:
        return self.spec.get("computeResources", {})

    @property
    def namespace(self) -> str:
        return self.spec.get("eksConfiguration", {}).get("kubernetesNamespace", "")

    @property
    def cluster_arn(self) -> str:
        return self.spec.get("eksConfiguration", {}).get("eksClusterArn", "")

    @property
    def usable(self) -> bool:
        return self.state == "ENABLED" and self.status == "VALID"


@dataclass
class JobQueue:
    name: str
    arn: str
    spec: dict[str, Any]  # priority, computeEnvironmentOrder, schedulingPolicyArn, jobStateTimeLimitActions, tags
    state: str = "ENABLED"
    status: str = "VALID"
    status_reason: str | None = None

    @property
    def priority(self) -> int:
        return int(self.spec.get("priority", 1))

    @property
    def compute_environment_arns(self) -> list[str]:
        order = sorted(self.spec.get("computeEnvironmentOrder", []), key=lambda o: o["order"])
        return [o["computeEnvironment"] for o in order]

    @property
    def scheduling_policy_arn(self) -> str | None:
        return self.spec.get("schedulingPolicyArn")


@dataclass
class SchedulingPolicy:
    name: str
    arn: str
    spec: dict[str, Any]  # fairsharePolicy, tags

    @property
    def fairshare(self) -> dict[str, Any]:
        return self.spec.get("fairsharePolicy") or {}


@dataclass
class Job:
    job_id: str
    job_name: str
    job_arn: str
    job_queue_arn: str
    job_definition_arn: str
    status: str
    created_at: int  # epoch ms
    pod_properties: dict[str, Any]  # the effective EksPodProperties (definition merged with overrides)
    status_reason: str | None = None
    started_at: int | None = None
    stopped_at: int | None = None
    depends_on: list[dict[str, Any]] = field(default_factory=list)
    retry_strategy: dict[str, Any] | None = None
    timeout_seconds: int | None = None
    share_identifier: str | None = None
    scheduling_priority: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    array_size: int | None = None  # set on an array parent
    array_index: int | None = None  # set on an array child
    parent_id: str | None = None
    eks_attempts: list[dict[str, Any]] = field(default_factory=list)
    is_cancelled: bool = False
    is_terminated: bool = False
    # scheduling internals
    attempt_number: int = 0  # 1-based number of the current / last attempt
    ce_name: str | None = None
    pod_name: str | None = None
    node_name: str | None = None
    runnable_since: float | None = None
    status_history: list[tuple[str, int]] = field(default_factory=list)
    instance_id: str | None = None  # EC2 instance of the node under the current attempt

    @property
    def is_array_parent(self) -> bool:
        return self.array_size is not None and self.array_index is None

    @property
    def max_attempts(self) -> int:
        return int((self.retry_strategy or {}).get("attempts", 1))


@dataclass
class Node:
    name: str  # ip-10-0-x-y.ec2.internal
    uid: str
    instance_id: str
    instance_type: str
    ce_name: str
    vcpus: float
    memory_mib: int
    gpus: int
    capacity_type: str  # ON_DEMAND | SPOT
    launched_at: float
    ready_at: float
    status: str = "NotReady"  # NotReady | Ready | Terminating
    idle_since: float | None = None
    labels: dict[str, str] = field(default_factory=dict)  # Kubernetes node labels, as Batch sets them
    taints: list[dict[str, str]] = field(default_factory=list)  # Kubernetes taints ({key, effect})
    zone: str = "us-east-1a"


@dataclass
class Pod:
    name: str
    namespace: str
    uid: str
    job_id: str
    attempt_number: int
    node_name: str
    ce_name: str
    spec: dict[str, Any]  # the Kubernetes pod spec (camelCase, as the Kubernetes API returns it)
    labels: dict[str, str]
    created_at: float
    phase: str = "Pending"  # Pending | Running | Succeeded | Failed
    started_at: float | None = None
    finished_at: float | None = None
    container_states: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {exitCode, reason, ...}
    deleted: bool = False


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def record_to_dict(record: Any) -> dict[str, Any]:
    """A record's fields as a JSON-ready dict (shallow: nested values are plain JSON data already).

    ``dataclasses.asdict`` deep-copies every nested value; the store only serializes, so a shallow view
    is enough and several times cheaper for the thousands of jobs one flush can carry.
    """
    cls = type(record)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return {name: getattr(record, name) for name in names}


def record_from_dict(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    if cls is Job and "status_history" in kwargs:
        kwargs["status_history"] = [tuple(x) for x in kwargs["status_history"]]
    return cls(**kwargs)
