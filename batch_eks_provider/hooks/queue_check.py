"""Can a job queue take a job now, and can the job ever fit? Pure functions over DescribeJobQueues and
DescribeComputeEnvironments answers; :class:`~batch_eks_provider.hooks.batch.BatchEksHook` makes the calls.

- A queue is usable when it exists, is ``ENABLED`` and its status is ``VALID`` (or ``CREATING``/``UPDATING``,
  on the way to ``VALID``), and at least one of its compute environments is usable the same way.
- A job fits a compute environment when its vCPUs are within ``maxvCpus`` and one instance type the
  environment may launch has the vCPUs, allocatable memory and GPUs it asks for. Instance types the
  catalogue (:mod:`batch_eks_provider.instance_types`) does not know never block a job.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Mapping, Sequence

from ..batch_rules import OVERRIDE_SECTIONS, override_target
from ..exceptions import BatchEksInvalidInputError, BatchEksQueueUnavailableError
from ..instance_types import expand
from .submit_request import normalize_cpu, normalize_memory

__all__ = [
    "ResourceRequirement",
    "FitProblem",
    "ComputeEnvironmentReport",
    "QueueReport",
    "compute_environment_report",
    "queue_report",
    "missing_queue_report",
    "pick_queue",
    "raise_for_report",
    "compute_environment_index",
    "USABLE_STATUSES",
]

USABLE_STATUSES = ("VALID", "UPDATING", "CREATING")


@dataclass(frozen=True)
class ResourceRequirement:
    """What one pod of the job asks of a node: ``cpu`` vCPUs, ``memory_mib`` and ``gpus``."""

    cpu: Decimal = Decimal(0)
    memory_mib: int = 0
    gpus: int = 0

    @classmethod
    def of(cls, cpu: Any = None, memory: Any = None, gpus: Any = None) -> "ResourceRequirement":
        """From the operator's shorthands, e.g. ``of(cpu="2", memory="4096Mi", gpus=1)`` (validated)."""
        return cls(
            Decimal(normalize_cpu(cpu)) if cpu is not None else Decimal(0),
            int(normalize_memory(memory)[:-2]) if memory is not None else 0,
            int(gpus or 0),
        )

    @classmethod
    def from_pod_properties(cls, pod_properties: Mapping[str, Any]) -> "ResourceRequirement":
        """Sum the containers' requests (a missing request counts its limit); a larger init container wins."""

        def one(container: Mapping[str, Any]) -> tuple[Decimal, int, int]:
            resources = container.get("resources") or {}
            values = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
            cpu = Decimal(normalize_cpu(values["cpu"])) if values.get("cpu") is not None else Decimal(0)
            mem = int(normalize_memory(values["memory"])[:-2]) if values.get("memory") is not None else 0
            return cpu, mem, int(values.get("nvidia.com/gpu") or 0)

        cpu, mem, gpu = Decimal(0), 0, 0
        for container in pod_properties.get("containers") or []:
            c, m, g = one(container)
            cpu, mem, gpu = cpu + c, mem + m, gpu + g
        for container in pod_properties.get("initContainers") or []:
            c, m, g = one(container)
            cpu, mem, gpu = max(cpu, c), max(mem, m), max(gpu, g)
        return cls(cpu, mem, gpu)

    @classmethod
    def for_submit_request(
        cls, request: Mapping[str, Any], job_definition: Mapping[str, Any]
    ) -> "ResourceRequirement":
        """The pod a SubmitJob ``request`` makes from ``job_definition`` (overrides merged as Batch merges them:
        by container ``name``, else by position; ``resources`` replaced whole)."""
        pod = copy.deepcopy((job_definition.get("eksProperties") or {}).get("podProperties") or {})
        override = (request.get("eksPropertiesOverride") or {}).get("podProperties") or {}
        for section in OVERRIDE_SECTIONS:
            targets = pod.get(section) or []
            for i, change in enumerate(override.get(section) or []):
                target = override_target(targets, change, i)
                if target is not None and change.get("resources") is not None:
                    target["resources"] = change["resources"]
        return cls.from_pod_properties(pod)

    def describe(self) -> str:
        parts = [f"cpu {self.cpu}", f"memory {self.memory_mib}Mi"] + (
            [f"gpus {self.gpus}"] if self.gpus else []
        )
        return ", ".join(parts)


@dataclass(frozen=True)
class FitProblem:
    """Why a job can never run on a compute environment: the ``field`` (cpu, memory, gpus), its ``value`` and the limit."""

    field: str
    value: Any
    limit: Any
    rule: str

    def error(self) -> BatchEksInvalidInputError:
        return BatchEksInvalidInputError(self.field, self.value, self.rule)


@dataclass(frozen=True)
class ComputeEnvironmentReport:
    """One compute environment as seen for a job: its state, capacity and whether the job fits."""

    name: str
    arn: str
    state: str | None
    status: str | None
    status_reason: str | None = None
    min_vcpus: int = 0
    desired_vcpus: int = 0
    max_vcpus: int = 0
    instance_types: tuple[str, ...] = ()
    unknown_instance_types: tuple[str, ...] = ()
    eks_cluster_arn: str | None = None
    kubernetes_namespace: str | None = None
    problem: str | None = None
    fit: FitProblem | None = None

    @property
    def usable(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class QueueReport:
    """A job queue, its compute environments in order, and what stops it from taking the job (if anything)."""

    name: str
    arn: str | None
    state: str | None
    status: str | None
    status_reason: str | None = None
    priority: int | None = None
    scheduling_policy_arn: str | None = None
    compute_environments: tuple[ComputeEnvironmentReport, ...] = ()
    problems: tuple[str, ...] = ()
    fit: FitProblem | None = None
    requirement: ResourceRequirement | None = field(default=None, compare=False)

    @property
    def exists(self) -> bool:
        return self.arn is not None

    @property
    def usable(self) -> bool:
        """Exists, is ENABLED/VALID and has a usable compute environment (fit aside)."""
        return not self.problems

    @property
    def accepts(self) -> bool:
        """Usable and the job fits one of its usable compute environments."""
        return self.usable and self.fit is None

    @property
    def fair_share(self) -> bool:
        """Whether SubmitJob needs a ``shareIdentifier`` for this queue."""
        return bool(self.scheduling_policy_arn)

    def summary(self) -> str:
        """``queue X: why`` in one line."""
        if self.accepts:
            return f"job queue {self.name}: usable"
        reasons = list(self.problems) or [
            f"the job cannot fit: {self.fit.field} {self.fit.value!r} {self.fit.rule}"
        ]
        return f"job queue {self.name}: " + "; ".join(reasons)


def _fit(requirement: ResourceRequirement, ce: Mapping[str, Any], name: str) -> FitProblem | None:
    resources = ce.get("computeResources") or {}
    max_vcpus = int(resources.get("maxvCpus") or 0)
    where = f"compute environment {name}"
    if requirement.cpu > max_vcpus:
        return FitProblem(
            "cpu",
            str(requirement.cpu),
            max_vcpus,
            f"is more than maxvCpus {max_vcpus} of {where}: the job can never run there.",
        )
    known, unknown = expand(resources.get("instanceTypes") or [])
    if unknown or not known:
        return None  # an instance type we do not know may be large enough
    candidates = [t for t in known if t.vcpus >= requirement.cpu]
    if not candidates:
        largest = max(known, key=lambda t: t.vcpus)
        return FitProblem(
            "cpu",
            str(requirement.cpu),
            largest.vcpus,
            f"is more than the {largest.vcpus} vCPUs of the largest instance type ({largest.name}) of {where}.",
        )
    fitting = [t for t in candidates if t.allocatable_memory_mib >= requirement.memory_mib]
    if not fitting:
        largest = max(candidates, key=lambda t: t.allocatable_memory_mib)
        return FitProblem(
            "memory",
            f"{requirement.memory_mib}Mi",
            f"{largest.allocatable_memory_mib}Mi",
            f"is more than the {largest.allocatable_memory_mib}Mi a pod can get on the largest instance type "
            f"({largest.name}) of {where} with {requirement.cpu} vCPUs.",
        )
    if requirement.gpus and not any(t.gpus >= requirement.gpus for t in fitting):
        most = max(t.gpus for t in fitting)
        return FitProblem(
            "gpus",
            requirement.gpus,
            most,
            f"is more than the {most} GPU(s) of any instance type of {where} ({', '.join(sorted({t.name.split('.')[0] for t in fitting}))})"
            " with that cpu and memory.",
        )
    return None


def compute_environment_report(
    ce: Mapping[str, Any], requirement: ResourceRequirement | None = None
) -> ComputeEnvironmentReport:
    """Report on one DescribeComputeEnvironments entry."""
    name = ce["computeEnvironmentName"]
    resources = ce.get("computeResources") or {}
    eks = ce.get("eksConfiguration") or {}
    problem = None
    if ce.get("state") != "ENABLED":
        problem = f"compute environment {name} is {ce.get('state')}"
    elif ce.get("status") not in USABLE_STATUSES:
        problem = f"compute environment {name} is {ce.get('status')}" + (
            f" ({ce['statusReason']})" if ce.get("statusReason") else ""
        )
    _, unknown = expand(resources.get("instanceTypes") or [])
    return ComputeEnvironmentReport(
        name=name,
        arn=ce["computeEnvironmentArn"],
        state=ce.get("state"),
        status=ce.get("status"),
        status_reason=ce.get("statusReason"),
        min_vcpus=int(resources.get("minvCpus") or 0),
        desired_vcpus=int(resources.get("desiredvCpus") or 0),
        max_vcpus=int(resources.get("maxvCpus") or 0),
        instance_types=tuple(resources.get("instanceTypes") or ()),
        unknown_instance_types=tuple(unknown),
        eks_cluster_arn=eks.get("eksClusterArn"),
        kubernetes_namespace=eks.get("kubernetesNamespace"),
        problem=problem,
        fit=_fit(requirement, ce, name) if requirement is not None else None,
    )


def missing_queue_report(name: str) -> QueueReport:
    return QueueReport(
        name=name, arn=None, state=None, status=None, problems=(f"job queue {name} does not exist",)
    )


def queue_report(
    queue: Mapping[str, Any],
    compute_environments: Mapping[str, Mapping[str, Any]],
    requirement: ResourceRequirement | None = None,
) -> QueueReport:
    """Report on one DescribeJobQueues entry; ``compute_environments`` maps CE ARN and name to its description."""
    name = queue["jobQueueName"]
    problems: list[str] = []
    if queue.get("state") != "ENABLED":
        problems.append(f"job queue {name} is {queue.get('state')}")
    if queue.get("status") not in USABLE_STATUSES:
        problems.append(
            f"job queue {name} is {queue.get('status')}"
            + (f" ({queue['statusReason']})" if queue.get("statusReason") else "")
        )
    ces: list[ComputeEnvironmentReport] = []
    for entry in sorted(queue.get("computeEnvironmentOrder") or [], key=lambda e: e.get("order", 0)):
        ref = entry["computeEnvironment"]
        described = compute_environments.get(ref)
        if described is None:
            short = ref.rsplit("/", 1)[-1]
            ces.append(
                ComputeEnvironmentReport(
                    short, ref, None, None, problem=f"compute environment {short} does not exist"
                )
            )
        else:
            ces.append(compute_environment_report(described, requirement))
    usable = [ce for ce in ces if ce.usable]
    if not usable:
        why = "; ".join(ce.problem or "" for ce in ces) or "it has no compute environment"
        problems.append(f"none of its compute environments is usable ({why})")
    fit = None
    if requirement is not None:
        # fit on a usable CE if there is one; a job that fits no CE at all can never run on this queue
        pool = usable or ces
        if pool and all(ce.fit for ce in pool):
            fit = pool[0].fit
    return QueueReport(
        name=name,
        arn=queue["jobQueueArn"],
        state=queue.get("state"),
        status=queue.get("status"),
        status_reason=queue.get("statusReason"),
        priority=queue.get("priority"),
        scheduling_policy_arn=queue.get("schedulingPolicyArn"),
        compute_environments=tuple(ces),
        problems=tuple(problems),
        fit=fit,
        requirement=requirement,
    )


def raise_for_report(report: QueueReport) -> QueueReport:
    """Return ``report`` if the queue accepts the job, else raise the error that says why."""
    return pick_queue([report])


def pick_queue(reports: Sequence[QueueReport]) -> QueueReport:
    """The first queue that accepts the job.

    :raises BatchEksInvalidInputError: the job fits no queue that is usable (it can never run as asked).
    :raises BatchEksQueueUnavailableError: no queue can take it now; the message names each queue and why.
    """
    for report in reports:
        if report.accepts:
            return report
    if not reports:
        raise BatchEksInvalidInputError("job_queue", [], "give at least one job queue.")
    misfits = [r for r in reports if r.fit]
    if misfits and all(r.fit or not r.exists for r in reports):
        problem = misfits[0].fit
        assert problem is not None
        rule = problem.rule
        if len(reports) > 1:
            rule += " Other queues: " + "; ".join(r.summary() for r in reports if r is not misfits[0]) + "."
        raise BatchEksInvalidInputError(problem.field, problem.value, f"{rule} (job queue {misfits[0].name})")
    reasons = {r.name: r.summary() for r in reports}
    names = ", ".join(r.name for r in reports)
    raise BatchEksQueueUnavailableError(
        f"No job queue can take the job ({names}): " + " | ".join(reasons.values()), reasons=reasons
    )


def compute_environment_index(described: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Map each description by both its name and its ARN."""
    index: dict[str, Mapping[str, Any]] = {}
    for ce in described:
        index[ce["computeEnvironmentName"]] = ce
        index[ce["computeEnvironmentArn"]] = ce
    return index
