"""Simulated nodes of managed EKS compute environments: launching for RUNNABLE demand up to maxvCpus,
keeping minvCpus/desiredvCpus, removing idle nodes, and finding room for a pod.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

from ..instance_types import INSTANCE_TYPES, InstanceType, kubernetes_arch, resolve_instance_types
from ..store.models import ComputeEnvironment, Node
from ..store.state import EngineState
from .faults import CapacityFaults

__all__ = ["NodeUsage", "CapacityManager", "node_labels", "node_taints", "BATCH_TAINT_KEY"]

BATCH_TAINT_KEY = "batch.amazonaws.com/batch-node"


def node_labels(node: Node, ce: ComputeEnvironment | None) -> dict[str, str]:
    """The Kubernetes labels Batch puts on a node of a managed EKS compute environment."""
    image_type = "EKS_AL2023"
    if ce is not None:
        image_type = ((ce.compute_resources.get("ec2Configuration") or [{}])[0]).get("imageType", image_type)
    region = node.zone[:-1]
    arch = kubernetes_arch(INSTANCE_TYPES.get(node.instance_type))
    labels = {
        "batch.amazonaws.com/compute-environment-uuid": ce.uuid if ce is not None else "",
        "batch.amazonaws.com/compute-environment-name": node.ce_name,
        "batch.amazonaws.com/capacity-type": node.capacity_type,
        "batch.amazonaws.com/image-type": image_type,
        "node.kubernetes.io/instance-type": node.instance_type,
        "beta.kubernetes.io/instance-type": node.instance_type,
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "beta.kubernetes.io/arch": arch,
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": node.zone,
        "failure-domain.beta.kubernetes.io/region": region,
        "failure-domain.beta.kubernetes.io/zone": node.zone,
        "eks.amazonaws.com/capacityType": node.capacity_type,
    }
    if node.gpus:
        labels["nvidia.com/gpu.present"] = "true"
    return labels


def node_taints(node: Node) -> list[dict[str, str]]:
    """Batch keeps other pods off its nodes: ``batch.amazonaws.com/batch-node`` NoSchedule and NoExecute."""
    return [
        {"key": BATCH_TAINT_KEY, "effect": "NoSchedule"},
        {"key": BATCH_TAINT_KEY, "effect": "NoExecute"},
    ]


def _holds(itype: InstanceType, cpu: float, mem: int, gpu: int) -> bool:
    return cpu <= itype.vcpus and mem <= itype.allocatable_memory_mib and gpu <= itype.gpus


@dataclass
class NodeUsage:
    cpu: float = 0.0
    memory_mib: int = 0
    gpus: int = 0
    pods: int = 0


class CapacityManager:
    """Owns every node; the scheduler asks it for room and tells it about demand."""

    def __init__(self, state: EngineState, rng: random.Random, faults: CapacityFaults | None = None) -> None:
        """:param faults: instance types / compute environments that cannot launch now (injected)."""
        self.state = state
        self.rng = rng
        self.faults = faults if faults is not None else CapacityFaults()
        self.usage: dict[str, NodeUsage] = {}
        self._by_ce: dict[str, dict[str, Node]] = {}  # CE name -> its live nodes

    # -- views ------------------------------------------------------------------------------------------
    def nodes_of(self, ce: ComputeEnvironment) -> list[Node]:
        return list(self._by_ce.get(ce.name, {}).values())

    def has_free_room(self, ce: ComputeEnvironment, cpu: float, mem: int, gpu: int) -> bool:
        """Whether a ready node of the CE could take the pod now (a cheap check before a placement walk)."""
        return self.find_ready_node(ce, cpu, mem, gpu) is not None

    def instance_types(self, ce: ComputeEnvironment) -> list[InstanceType]:
        return resolve_instance_types(ce.compute_resources.get("instanceTypes", ["optimal"]))

    def vcpus_of(self, ce: ComputeEnvironment) -> float:
        return sum(n.vcpus for n in self.nodes_of(ce))

    def used(self, node: Node) -> NodeUsage:
        return self.usage.setdefault(node.name, NodeUsage())

    def fits_node(self, node: Node, cpu: float, mem: int, gpu: int) -> bool:
        use = self.used(node)
        return (
            use.cpu + cpu <= node.vcpus + 1e-9
            and use.memory_mib + mem <= node.memory_mib
            and use.gpus + gpu <= node.gpus
        )

    def can_ever_fit(self, ce: ComputeEnvironment, cpu: float, mem: int, gpu: int) -> bool:
        """Whether the CE could ever run the pod: its vCPU request is within maxvCpus and some instance type of
        the CE holds it. The instance type itself may be larger than maxvCpus: with BEST_FIT_PROGRESSIVE and
        SPOT_CAPACITY_OPTIMIZED, Batch may exceed maxvCpus, never by more than one instance."""
        return cpu <= int(ce.compute_resources.get("maxvCpus", 0)) and self.some_type_holds(ce, cpu, mem, gpu)

    def some_type_holds(self, ce: ComputeEnvironment, cpu: float, mem: int, gpu: int) -> bool:
        """Whether an instance type of the CE holds the pod, whatever its maxvCpus."""
        return any(_holds(t, cpu, mem, gpu) for t in self.instance_types(ce))

    def can_grow(self, ce: ComputeEnvironment) -> bool:
        """Whether the CE's nodes hold fewer vCPUs than its maxvCpus (it may launch one more instance)."""
        return self.vcpus_of(ce) < int(ce.compute_resources.get("maxvCpus", 0))

    def unobtainable_type(self, ce: ComputeEnvironment, cpu: float, mem: int, gpu: int) -> str | None:
        """The instance type the CE would launch for the pod (best fit) when injected insufficient capacity keeps
        every type that holds it from launching; None when one can launch (or none holds it)."""
        holding = [t for t in self.instance_types(ce) if _holds(t, cpu, mem, gpu)]
        if holding and all(self.faults.blocks(ce.name, t.name) for t in holding):
            return holding[0].name
        return None

    # -- placement ----------------------------------------------------------------------------------------
    def find_ready_node(self, ce: ComputeEnvironment, cpu: float, mem: int, gpu: int) -> Node | None:
        """Best fit: the ready node with the least free vCPU that still fits the pod."""
        best, best_free = None, None
        for node in self._by_ce.get(ce.name, {}).values():
            if node.status != "Ready" or not self.fits_node(node, cpu, mem, gpu):
                continue
            free = node.vcpus - self.used(node).cpu
            if best_free is None or free < best_free:
                best, best_free = node, free
        return best

    def reserve(self, node: Node, cpu: float, mem: int, gpu: int) -> None:
        use = self.used(node)
        use.cpu += cpu
        use.memory_mib += mem
        use.gpus += gpu
        use.pods += 1
        node.idle_since = None
        self.state.touch(node)

    def release(self, node_name: str, cpu: float, mem: int, gpu: int) -> None:
        node = self.state.nodes.get(node_name)
        use = self.usage.get(node_name)
        if use is None:
            return
        use.cpu = max(0.0, use.cpu - cpu)
        use.memory_mib = max(0, use.memory_mib - mem)
        use.gpus = max(0, use.gpus - gpu)
        use.pods = max(0, use.pods - 1)
        if node is not None and use.pods == 0:
            node.idle_since = self.state.clock.now()
            self.state.touch(node)

    # -- scaling ------------------------------------------------------------------------------------------
    def launch(self, ce: ComputeEnvironment, itype: InstanceType) -> Node:
        now = self.state.clock.now()
        octets = [self.rng.randint(0, 255) for _ in range(2)]
        name = f"ip-10-0-{octets[0]}-{octets[1]}.ec2.internal"
        while name in self.state.nodes:
            name = f"ip-10-{self.rng.randint(1, 255)}-{self.rng.randint(0, 255)}-{self.rng.randint(0, 255)}.ec2.internal"
        node = Node(
            name=name,
            uid=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            instance_id="i-" + "".join(self.rng.choice("0123456789abcdef") for _ in range(17)),
            instance_type=itype.name,
            ce_name=ce.name,
            vcpus=itype.vcpus,
            memory_mib=itype.allocatable_memory_mib,
            gpus=itype.gpus,
            capacity_type="SPOT" if ce.compute_resources.get("type") == "SPOT" else "ON_DEMAND",
            launched_at=now,
            ready_at=now + self.state.config.node_startup_seconds,
            idle_since=now,
            zone=f"{self.state.config.region}{self.rng.choice('abc')}",
        )
        node.labels = node_labels(node, ce)
        node.taints = node_taints(node)
        self.state.add(node)
        self._by_ce.setdefault(ce.name, {})[node.name] = node
        return node

    def pick_instance_type(self, ce: ComputeEnvironment, cpu: float, mem: int, gpu: int, headroom: float) -> InstanceType | None:
        """Best fit progressive: the smallest instance type that fits the pod and can be launched now (see
        :mod:`.faults`), or None when there is none or the CE has no vCPU headroom left under maxvCpus. Any headroom allows one more instance, even one that goes past
        maxvCpus (Batch may exceed it by at most one instance)."""
        if headroom <= 0:
            return None
        for itype in self.instance_types(ce):
            if _holds(itype, cpu, mem, gpu) and not self.faults.blocks(ce.name, itype.name):
                return itype
        return None

    def terminate(self, node: Node) -> None:
        node.status = "Terminating"
        self.usage.pop(node.name, None)
        self._by_ce.get(node.ce_name, {}).pop(node.name, None)
        self.state.remove(node)
