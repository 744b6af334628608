"""Managed EKS compute environments over time: validation (CREATING/UPDATING -> VALID or INVALID), node
start-up, scaling for RUNNABLE demand up to maxvCpus, idle nodes removed down to minvCpus, and Spot
interruptions.
"""

from __future__ import annotations

import math
import random
from typing import Callable

from .capacity import CapacityManager
from ..store.models import ComputeEnvironment, JobQueue, Node
from ..store.state import SUPPORTED_EKS_VERSIONS, EngineState

__all__ = ["Scaler", "Demand", "eks_config_problem"]

Demand = dict[str, list[tuple[float, int, int]]]  # CE name -> (cpu, memory MiB, gpus) of unplaced pods


def eks_config_problem(state: EngineState, ce: ComputeEnvironment) -> str | None:
    """Why the CE's EKS configuration cannot work (its ``statusReason`` when INVALID), or None."""
    cluster = state.eks_cluster(ce.cluster_arn)
    if cluster.version not in SUPPORTED_EKS_VERSIONS:
        return (
            f"CLIENT_ERROR - The compute environment cannot use EKS cluster {cluster.name}: "
            f"EKS Cluster version [{cluster.version}] is unsupported"
        )
    return None


class Scaler:
    """Keeps every compute environment's nodes in line with its settings and its demand."""

    def __init__(
        self,
        state: EngineState,
        capacity: CapacityManager,
        rng: random.Random,
        reclaim: Callable[[Node], object],
        end_queue_jobs: Callable[[JobQueue], bool],
    ) -> None:
        """:param reclaim: takes a Spot node away with its pods.
        :param end_queue_jobs: terminates the jobs of a deleted queue; returns whether none is left unfinished."""
        self.state = state
        self.capacity = capacity
        self.rng = rng
        self.reclaim = reclaim
        self.end_queue_jobs = end_queue_jobs
        self._not_ready: dict[str, Node] = {}

    def settle_compute_environments(self) -> bool:
        """CREATING/UPDATING -> VALID or INVALID; DELETING ones go once their nodes are gone. A DELETING queue
        terminates its jobs ("all jobs in the queue are eventually terminated", DeleteJobQueue) and goes once
        every one of them has ended. Returns whether any CE changed (queues then get another look)."""
        changed = False
        for ce in list(self.state.compute_environments.values()):
            if ce.status in ("CREATING", "UPDATING"):
                problem = eks_config_problem(self.state, ce)
                ce.status, ce.status_reason = ("INVALID", problem) if problem else ("VALID", None)
                self.state.touch(ce)
                changed = True
            elif ce.status == "DELETING" and not self.capacity.nodes_of(ce):
                self.state.remove(ce)
                changed = True
        for queue in list(self.state.job_queues.values()):
            if queue.status == "DELETING" and self.end_queue_jobs(queue):
                self.state.remove(queue)
        return changed

    def nodes_ready(self, now: float) -> None:
        for node in list(self._not_ready.values()):
            if node.ready_at <= now:
                if node.status == "NotReady":
                    node.status = "Ready"
                del self._not_ready[node.name]

    def forget_node(self, node: Node) -> None:
        """A node went away outside scaling (reclaimed)."""
        self._not_ready.pop(node.name, None)

    def next_node_ready_at(self) -> float | None:
        return min((n.ready_at for n in self._not_ready.values()), default=None)

    def _launch(self, ce: ComputeEnvironment, itype) -> Node:
        node = self.capacity.launch(ce, itype)
        self._not_ready[node.name] = node
        return node

    def scale(self, now: float, demand: Demand) -> None:
        for ce in list(self.state.compute_environments.values()):
            if ce.status not in ("VALID", "DELETING", "INVALID"):
                continue
            resources = ce.compute_resources
            max_vcpus = int(resources.get("maxvCpus", 0))
            # a DISABLED CE takes no new work and does not scale out, but keeps minvCpus
            floor = min(int(resources.get("minvCpus", 0)), max_vcpus) if ce.status == "VALID" else 0
            target = floor
            if ce.usable:
                target = min(max(floor, int(resources.get("desiredvCpus") or 0)), max_vcpus)
            nodes = self.capacity.nodes_of(ce)
            total = sum(n.vcpus for n in nodes)
            if ce.usable and demand.get(ce.name):
                total = self._launch_for_demand(ce, nodes, demand[ce.name], total, max_vcpus)
            while total < target:  # minvCpus / desiredvCpus: pre-warmed nodes (the last may pass maxvCpus)
                types = self.capacity.instance_types(ce)
                fitting = [
                    t for t in types
                    if t.vcpus <= max(target - total, types[0].vcpus) and not self.capacity.faults.blocks(ce.name, t.name)
                ]
                if not fitting:
                    break
                total += self._launch(ce, fitting[-1]).vcpus
            total = self._remove_idle(ce, self.capacity.nodes_of(ce), now, total, floor, max_vcpus)
            self._report_desired(ce, floor, total, max_vcpus)

    def _launch_for_demand(
        self, ce: ComputeEnvironment, nodes: list[Node], pods: list[tuple[float, int, int]], total: float, max_vcpus: int
    ) -> float:
        """Pack the unplaced pods into nodes still starting, and launch what is missing (best fit)."""
        starting_free = {}
        for n in nodes:
            if n.status == "NotReady":
                use = self.capacity.used(n)
                starting_free[n.name] = [n.vcpus - use.cpu, n.memory_mib - use.memory_mib, n.gpus - use.gpus]
        cannot_launch: set[tuple[float, int, int]] = set()
        for cpu, mem, gpu in pods:
            slot = next((f for f in starting_free.values() if f[0] >= cpu and f[1] >= mem and f[2] >= gpu), None)
            if slot is None:
                if (cpu, mem, gpu) in cannot_launch:
                    continue
                itype = self.capacity.pick_instance_type(ce, cpu, mem, gpu, max_vcpus - total)
                if itype is None:
                    cannot_launch.add((cpu, mem, gpu))
                    continue
                node = self._launch(ce, itype)
                total += node.vcpus
                slot = starting_free[node.name] = [node.vcpus, node.memory_mib, node.gpus]
            slot[0] -= cpu
            slot[1] -= mem
            slot[2] -= gpu
        return total

    def _report_desired(self, ce: ComputeEnvironment, floor: int, total: float, max_vcpus: int) -> None:
        """``desiredvCpus`` of an EKS compute environment is Batch's: what it wants now, ``minvCpus`` or the
        vCPUs its nodes (busy, starting for demand, or not yet idle long enough) hold, within maxvCpus."""
        resources = ce.compute_resources
        desired = min(max(floor, math.ceil(total)), max_vcpus)
        if int(resources.get("desiredvCpus") or 0) != desired:
            resources["desiredvCpus"] = desired
            self.state.touch(ce)

    def _remove_idle(self, ce: ComputeEnvironment, nodes: list[Node], now: float, total: float, floor: int, max_vcpus: int) -> float:
        """Nodes idle for ``node_idle_seconds`` go away down to ``minvCpus`` (a ``desiredvCpus`` set by hand
        launches nodes but does not hold them); with maxvCpus lowered, idle nodes above it go at once.
        Returns the vCPUs left."""
        idle_seconds = self.state.config.node_idle_seconds
        for node in sorted(nodes, key=lambda n: n.vcpus):
            use = self.capacity.used(node)
            if use.pods:
                continue
            # above maxvCpus by more than this node (maxvCpus was lowered): it goes at once; within one
            # instance of it, as Batch allows, it waits like any idle node
            over_max = total - node.vcpus >= max_vcpus or ce.status == "DELETING"
            idle_for = now - node.idle_since if node.idle_since is not None else 0
            if (over_max or idle_for >= idle_seconds) and total - node.vcpus >= floor:
                self._not_ready.pop(node.name, None)
                self.capacity.terminate(node)
                total -= node.vcpus
        return total

    def spot_interruptions(self, elapsed: float) -> None:
        """Reclaim Spot nodes at random, at the CE's rate or the engine's (interruptions per node per minute)."""
        if elapsed <= 0:
            return
        engine_rate = self.state.config.spot_interruption_rate
        for node in list(self.state.nodes.values()):
            if node.capacity_type != "SPOT" or node.status != "Ready":
                continue
            ce = self.state.compute_environments.get(node.ce_name)
            rate = (ce.spot_interruption_rate if ce else 0.0) or engine_rate
            if rate > 0 and self.rng.random() < 1 - math.exp(-rate * elapsed / 60.0):
                self.reclaim(node)
