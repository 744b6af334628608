"""Faults the scheduler can be told to inject: EC2 capacity that cannot be had, and pods slow to start.

- **Insufficient capacity** (:class:`CapacityFaults`): no new instance of an instance type, of a compute
  environment, or of one instance type in one compute environment can be launched, as when EC2 answers
  ``InsufficientInstanceCapacity``. Nodes already up keep their pods and take new ones; scaling picks the next
  instance type that fits, then the next compute environment of the queue; a job that none can launch for
  stays RUNNABLE with :func:`insufficient_capacity_reason`.
- **Slow pod start** (:class:`PodStartDelays`): a placed pod stays ``Pending`` (containers ``waiting:
  ContainerCreating``) and its job STARTING for that many seconds of the engine's clock before its
  containers start, as while an image is pulled or a node is not ready yet.

Both are in memory only (an engine restart clears them). Each setter replaces the whole setting, so a fault is
removed by setting it again without it; the scheduler reads them on every pass.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CapacityFault", "CapacityFaults", "PodStartDelays", "insufficient_capacity_reason"]


def insufficient_capacity_reason(instance_type: str) -> str:
    """statusReason of a RUNNABLE job no compute environment of its queue can launch an instance for
    (AWS Batch User Guide, "Jobs stuck in RUNNABLE due to capacity")."""
    return f"CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type {instance_type}"


@dataclass(frozen=True)
class CapacityFault:
    """Instances that cannot be launched: of ``instance_type`` (any CE), of ``compute_environment`` (any
    type), or of that type in that CE when both are given. One of them at least is set."""

    instance_type: str | None = None
    compute_environment: str | None = None

    def blocks(self, ce_name: str, instance_type: str) -> bool:
        return (self.instance_type is None or self.instance_type == instance_type) and (
            self.compute_environment is None or self.compute_environment == ce_name
        )

    def as_dict(self) -> dict[str, str]:
        out = {}
        if self.compute_environment is not None:
            out["compute_environment"] = self.compute_environment
        if self.instance_type is not None:
            out["instance_type"] = self.instance_type
        return out


class CapacityFaults:
    """The insufficient-capacity faults in force. :meth:`set` swaps the whole tuple, so a reader on another
    thread sees the old set or the new one, never half of it."""

    def __init__(self) -> None:
        self.faults: tuple[CapacityFault, ...] = ()

    def set(self, faults: list[CapacityFault] | tuple[CapacityFault, ...]) -> None:
        for fault in faults:
            if fault.instance_type is None and fault.compute_environment is None:
                raise ValueError("An insufficient-capacity fault names an instance type, a compute environment or both.")
        self.faults = tuple(dict.fromkeys(faults))

    def blocks(self, ce_name: str, instance_type: str) -> bool:
        """Whether an instance of ``instance_type`` cannot be launched in compute environment ``ce_name``."""
        return any(f.blocks(ce_name, instance_type) for f in self.faults)

    def __bool__(self) -> bool:
        return bool(self.faults)

    def as_list(self) -> list[dict[str, str]]:
        return [f.as_dict() for f in self.faults]


class PodStartDelays:
    """Seconds (engine clock) a placed pod waits in ``Pending``/``ContainerCreating`` before its containers
    start: one engine-wide value and per-compute-environment values that win over it. 0 (the default): the
    containers start on the scheduler's next pass."""

    def __init__(self) -> None:
        self.default = 0.0
        self.by_ce: dict[str, float] = {}

    def set(self, seconds: float, compute_environment: str | None = None) -> None:
        if not seconds >= 0:
            raise ValueError(f"Invalid pod start delay {seconds!r}: must be 0 or more seconds.")
        if compute_environment is None:
            self.default = float(seconds)
            return
        by_ce = dict(self.by_ce)
        if seconds:
            by_ce[compute_environment] = float(seconds)
        else:
            by_ce.pop(compute_environment, None)
        self.by_ce = by_ce

    def of(self, ce_name: str) -> float:
        return self.by_ce.get(ce_name, self.default)
