"""core/v1 ``Event`` objects for what happened to the engine's pods and nodes (what ``kubectl describe``
lists under ``Events:``).

The engine keeps no event log: the events are derived from the records' times. A pod has ``Scheduled``
(default-scheduler), then for each container ``Pulled``, ``Created``, ``Started`` (kubelet) once it started,
and ``Killing`` when it was deleted through the API; a node has ``Starting``, ``RegisteredNode`` and, once
Ready, ``NodeReady``. ``fieldSelector`` filters on ``involvedObject.*``, ``reason``, ``type``, ``source`` and
``metadata.*`` as the API server does.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable

from ..store.models import Node, Pod
from .kubernetes_objects import rfc3339

__all__ = ["pod_events", "node_events", "EVENT_FIELDS"]

EVENT_FIELDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "metadata.name": lambda e: e["metadata"]["name"],
    "metadata.namespace": lambda e: e["metadata"]["namespace"],
    "reason": lambda e: e["reason"],
    "type": lambda e: e["type"],
    "source": lambda e: e["source"].get("component", ""),
    "reportingComponent": lambda e: e.get("reportingComponent", ""),
    **{
        f"involvedObject.{key}": (lambda e, key=key: str(e["involvedObject"].get(key, "")))
        for key in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    },
}


def _event(
    involved: dict[str, Any],
    namespace: str,
    reason: str,
    message: str,
    at: float,
    component: str,
    host: str = "",
    field_path: str = "",
) -> dict[str, Any]:
    key = f"{involved['uid']}/{reason}/{field_path}"
    suffix = hashlib.sha256(key.encode()).hexdigest()[:16]
    moment = rfc3339(at)
    source = {"component": component, **({"host": host} if host else {})}
    return {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {
            "name": f"{involved['name']}.{suffix}",
            "namespace": namespace,
            "uid": f"{suffix[:8]}-{suffix[8:12]}-{suffix[12:16]}-0000-{hashlib.sha256(key.encode()).hexdigest()[:12]}",
            "resourceVersion": str(int(at * 1000)),
            "creationTimestamp": moment,
        },
        "involvedObject": {**involved, **({"fieldPath": field_path} if field_path else {})},
        "reason": reason,
        "message": message,
        "source": source,
        "firstTimestamp": moment,
        "lastTimestamp": moment,
        "count": 1,
        "type": "Normal",
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": host,
    }


def pod_events(pods: Iterable[Pod]) -> list[dict[str, Any]]:
    events = []
    for pod in pods:
        involved = {"kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": pod.uid, "apiVersion": "v1"}
        events.append(
            _event(
                involved, pod.namespace, "Scheduled",
                f"Successfully assigned {pod.namespace}/{pod.name} to {pod.node_name}",
                pod.created_at, "default-scheduler",
            )
        )
        if pod.started_at is None:
            continue
        for container in [*pod.spec.get("initContainers", []), *pod.spec.get("containers", [])]:
            name, image = container["name"], container.get("image", "")
            path = f"spec.containers{{{name}}}"
            for reason, message in (
                ("Pulled", f'Container image "{image}" already present on machine'),
                ("Created", f"Created container {name}"),
                ("Started", f"Started container {name}"),
            ):
                events.append(_event(involved, pod.namespace, reason, message, pod.started_at, "kubelet", pod.node_name, path))
            if pod.deleted:
                events.append(
                    _event(
                        involved, pod.namespace, "Killing", f"Stopping container {name}",
                        pod.finished_at or pod.started_at, "kubelet", pod.node_name, path,
                    )
                )
    return events


def node_events(nodes: Iterable[Node]) -> list[dict[str, Any]]:
    events = []
    for node in nodes:
        involved = {"kind": "Node", "name": node.name, "uid": node.name, "apiVersion": "v1"}
        events.append(_event(involved, "default", "Starting", "Starting kubelet.", node.launched_at, "kubelet", node.name))
        events.append(
            _event(
                involved, "default", "RegisteredNode",
                f"Node {node.name} event: Registered Node {node.name} in Controller",
                node.launched_at, "node-controller",
            )
        )
        if node.status == "Ready":
            events.append(
                _event(
                    involved, "default", "NodeReady", f"Node {node.name} status is now: NodeReady",
                    node.ready_at, "kubelet", node.name,
                )
            )
    return events
