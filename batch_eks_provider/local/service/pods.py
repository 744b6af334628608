"""Pods, nodes and namespaces as the Kubernetes API shows them, a pod's log, and deleting a pod: what the
Kubernetes routes (:mod:`~batch_eks_provider.local.api.kubernetes`) read and change.

The rules here: which pods exist for the API (one deleted through it is gone once it has ended), which nodes
(not Terminating), which namespaces (the system ones and every compute environment's), the fields a
``fieldSelector`` may name on each, which container's log a request reads, from which line, and for how long
a followed log goes on. The routes parse the query and render what these functions return as core/v1
objects; a selector here is anything with a ``matches`` method
(:class:`~batch_eks_provider.local.api.kubernetes_objects.LabelSelector`, ``FieldSelector``).

Every function takes the :class:`~batch_eks_provider.local.store.state.EngineState` (and, where it needs
them, the log store or the scheduler) and raises a :class:`~batch_eks_provider.local.errors.KubernetesError`
for a resource that does not exist or a request the API server refuses.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Protocol, TypeVar

from ..errors import KubernetesError
from ..scheduling.pods import node_ip, pod_ip
from ..store.logs import LogLine, LogStore
from ..store.models import ComputeEnvironment, Node, Pod
from ..store.state import EngineState

__all__ = [
    "DELETED_POD_REASON",
    "FOLLOW_POLL_SECONDS",
    "SYSTEM_NAMESPACES",
    "POD_FIELDS",
    "NODE_FIELDS",
    "NAMESPACE_FIELDS",
    "PodStopper",
    "NodeView",
    "visible_pods",
    "list_pods",
    "find_pod",
    "pod_created_ms",
    "delete_pod",
    "live_nodes",
    "list_nodes",
    "find_node",
    "namespaces",
    "list_namespaces",
    "find_namespace",
    "log_container",
    "log_lines",
    "follow_log",
    "node_ip",
    "pod_ip",
]

DELETED_POD_REASON = "Pod {name} was deleted through the Kubernetes API."
FOLLOW_POLL_SECONDS = 1.0  # a followed log looks again this often even when nothing wakes it
# The namespaces an EKS cluster with the CloudWatch observability add-on has besides Batch's own.
SYSTEM_NAMESPACES = ("amazon-cloudwatch", "default", "kube-node-lease", "kube-public", "kube-system")

# the fields a fieldSelector may name, as the API server supports them for each resource
POD_FIELDS: dict[str, Callable[[Pod], str]] = {
    "metadata.name": lambda p: p.name,
    "metadata.namespace": lambda p: p.namespace,
    "spec.nodeName": lambda p: p.node_name,
    "status.phase": lambda p: p.phase,
    "spec.restartPolicy": lambda p: p.spec.get("restartPolicy", "Never"),
    "spec.schedulerName": lambda p: p.spec.get("schedulerName", "default-scheduler"),
    "spec.serviceAccountName": lambda p: p.spec.get("serviceAccountName", "default"),
}
NODE_FIELDS: dict[str, Callable[[Node], str]] = {
    "metadata.name": lambda n: n.name,
    "spec.unschedulable": lambda n: "false",
}
NAMESPACE_FIELDS: dict[str, Callable[[str], str]] = {
    "metadata.name": lambda n: n,
    "status.phase": lambda n: "Active",
}

T = TypeVar("T")


class LabelMatcher(Protocol):
    def matches(self, labels: dict[str, str]) -> bool: ...


class FieldMatcher(Protocol):
    def matches(self, record: Any) -> bool: ...


class PodStopper(Protocol):
    """What deleting a pod needs from the scheduler."""

    def stop_pod(self, pod_name: str, reason: str) -> None: ...

    def remove_pod(self, pod_name: str) -> None: ...

    def wake(self) -> None: ...


# -- pods -------------------------------------------------------------------------------------------------------
def visible_pods(state: EngineState) -> list[Pod]:
    """Pods that exist for the Kubernetes API: not yet removed, and not deleted through the API and ended."""
    return [p for p in state.pods.values() if not (p.deleted and p.finished_at is not None)]


def list_pods(
    state: EngineState, namespace: str | None, label_selector: LabelMatcher, field_selector: FieldMatcher
) -> list[Pod]:
    """The visible pods of ``namespace`` (None: of every namespace) that both selectors match, by namespace,
    then creation time, then name."""
    pods = [p for p in visible_pods(state) if namespace is None or p.namespace == namespace]
    ordered = sorted(pods, key=lambda p: (p.namespace, p.created_at, p.name))
    return [p for p in ordered if label_selector.matches(p.labels) and field_selector.matches(p)]


def find_pod(state: EngineState, namespace: str, name: str) -> Pod:
    """The visible pod ``name`` of ``namespace``.

    :raises KubernetesError: ``404 NotFound`` when there is none.
    """
    pod = state.pods.get(name)
    if pod is None or pod.namespace != namespace or (pod.deleted and pod.finished_at is not None):
        raise KubernetesError.not_found("pods", name)
    return pod


def pod_created_ms(state: EngineState, name: str) -> float:
    """When the pod ``name`` was made (engine clock, ms); 0 for a pod that is gone."""
    pod = state.pods.get(name)
    return pod.created_at * 1000 if pod is not None else 0.0


def delete_pod(
    state: EngineState, stopper: PodStopper, namespace: str, name: str, reply: Callable[[Pod], T]
) -> T:
    """Delete a pod and return ``reply(pod)``, taken once the pod is marked deleted and before it is stopped
    (the API server answers a delete with the pod as it is then). A running pod is stopped -- its attempt
    fails, as when a pod of a Batch job is deleted on EKS -- and disappears once its processes are gone; an
    ended pod disappears at once.

    :raises KubernetesError: ``404 NotFound`` when there is no such pod.
    """
    pod = find_pod(state, namespace, name)
    pod.deleted = True
    answer = reply(pod)
    if pod.finished_at is None:
        stopper.stop_pod(pod.name, DELETED_POD_REASON.format(name=pod.name))  # SIGTERM, SIGKILL after grace
    else:
        stopper.remove_pod(pod.name)  # record, log lines and work dir, as the retention timer does
    stopper.wake()
    return answer


# -- nodes ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeView:
    """A node and what its Kubernetes object tells of where it runs."""

    node: Node
    compute_environment: ComputeEnvironment | None
    region: str
    kubernetes_version: str | None  # its EKS cluster's version (e.g. "1.30"); None: no cluster known


def _node_view(state: EngineState, node: Node) -> NodeView:
    ce = state.compute_environments.get(node.ce_name)
    version = state.eks_cluster(ce.cluster_arn).version if ce is not None and ce.cluster_arn else None
    return NodeView(node, ce, state.config.region, version)


def live_nodes(state: EngineState) -> list[Node]:
    """The nodes that exist for the Kubernetes API: all but the Terminating ones."""
    return [n for n in state.nodes.values() if n.status != "Terminating"]


def list_nodes(state: EngineState, label_selector: LabelMatcher, field_selector: FieldMatcher) -> list[NodeView]:
    """The live nodes that both selectors match, by name."""
    nodes = sorted((n for n in live_nodes(state) if field_selector.matches(n)), key=lambda n: n.name)
    views = [_node_view(state, n) for n in nodes]
    return [v for v in views if label_selector.matches(v.node.labels)]


def find_node(state: EngineState, name: str) -> NodeView:
    """The live node ``name``.

    :raises KubernetesError: ``404 NotFound`` when there is none.
    """
    node = state.nodes.get(name)
    if node is None or node.status == "Terminating":
        raise KubernetesError.not_found("nodes", name)
    return _node_view(state, node)


# -- namespaces -------------------------------------------------------------------------------------------------
def namespaces(state: EngineState) -> dict[str, float]:
    """Namespace name -> creation time: the system namespaces (as old as the oldest CE) and every CE's namespace."""
    ces = list(state.compute_environments.values())
    oldest = min((ce.created_at for ce in ces), default=state.clock.now())
    found = {name: oldest for name in SYSTEM_NAMESPACES}
    for ce in ces:
        if ce.namespace:
            found[ce.namespace] = min(found.get(ce.namespace, ce.created_at), ce.created_at)
    return found


def list_namespaces(
    state: EngineState, label_selector: LabelMatcher, field_selector: FieldMatcher
) -> dict[str, float]:
    """The namespaces both selectors match (a namespace's one label: ``kubernetes.io/metadata.name``), by name."""
    found = namespaces(state)
    return {
        name: found[name]
        for name in sorted(found)
        if label_selector.matches({"kubernetes.io/metadata.name": name}) and field_selector.matches(name)
    }


def find_namespace(state: EngineState, name: str) -> float:
    """When the namespace ``name`` was made.

    :raises KubernetesError: ``404 NotFound`` when there is none.
    """
    found = namespaces(state)
    if name not in found:
        raise KubernetesError.not_found("namespaces", name)
    return found[name]


# -- pod logs ---------------------------------------------------------------------------------------------------
def log_container(pod: Pod, requested: str | None, previous: bool = False) -> str:
    """The container whose log a request reads: ``requested``, or the pod's only container.

    :raises KubernetesError: ``400 BadRequest`` for a container the pod does not have, a pod of several
        containers and none named, or ``previous`` (a pod's containers never restart: there is none).
    """
    containers = [c["name"] for c in pod.spec.get("containers", [])]
    init_containers = [c["name"] for c in pod.spec.get("initContainers", [])]
    if requested:
        if requested not in containers and requested not in init_containers:
            raise KubernetesError.bad_request(f"container {requested} is not valid for pod {pod.name}")
        container = requested
    elif len(containers) == 1:
        container = containers[0]
    else:
        message = (
            f"a container name must be specified for pod {pod.name}, choose one of: [{' '.join(containers)}]"
        )
        if init_containers:
            message += f" or one of the init containers: [{' '.join(init_containers)}]"
        raise KubernetesError.bad_request(message)
    if previous:
        raise KubernetesError.bad_request(
            f'previous terminated container "{container}" in pod "{pod.name}" not found'
        )
    return container


def log_lines(
    logs: LogStore, pod: Pod, container: str, *, since: float | None = None, tail: int | None = None
) -> tuple[list[LogLine], int]:
    """The lines the engine keeps of the pod's container (stdout's and stderr's in the one order they were
    read, as ``kubectl logs`` shows both), and the index of the first one asked for: the first at or after
    ``since`` (epoch seconds), and not before the last ``tail`` lines."""
    lines = list(logs.lines.get((pod.name, container), []))
    start = 0
    if since is not None:
        start = next((i for i, line in enumerate(lines) if line.timestamp >= since), len(lines))
    if tail is not None:
        start = max(start, len(lines) - tail)
    return lines, start


async def follow_log(
    state: EngineState, logs: LogStore, pod: Pod, container: str, start: int,
    poll_seconds: float = FOLLOW_POLL_SECONDS,
) -> AsyncIterator[LogLine]:
    """Yield the container's lines from index ``start`` as they come; end once the pod has ended (or is gone)."""
    key = (pod.name, container)
    index = start
    while True:
        lines = logs.lines.get(key, [])
        while index < len(lines):
            line = lines[index]
            index += 1
            yield line
        if pod.finished_at is not None or state.pods.get(pod.name) is not pod:
            return
        event = logs.waiter(*key)
        event.clear()
        if len(logs.lines.get(key, [])) > index or pod.finished_at is not None:
            continue
        try:
            await asyncio.wait_for(event.wait(), timeout=poll_seconds)
        except asyncio.TimeoutError:
            pass
