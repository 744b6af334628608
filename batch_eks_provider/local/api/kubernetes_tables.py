"""The ``meta.k8s.io/v1 Table`` form of pods, nodes and namespaces: what ``kubectl get`` prints.

kubectl asks for it with ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io, ...`` on lists, single
objects and watches (``-w``: each watch event's ``object`` is a Table of one row). The columns are the API
server's printer columns (priority 1 = shown by ``-o wide`` only); the cells follow its printers: a pod's
STATUS is the reason kubectl shows (Pending, ContainerCreating, Running, Completed, Error, OOMKilled,
Terminating, Init:...), ages are ``HumanDuration`` strings. ``includeObject`` = ``None`` | ``Metadata``
(the default: a ``PartialObjectMetadata``) | ``Object`` says what each row's ``object`` carries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from starlette.requests import Request

from .kubernetes_objects import KubernetesError

__all__ = ["wants_table", "include_object", "table", "human_duration", "pod_status_reason", "TABLE_MEDIA_TYPE"]

TABLE_MEDIA_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"
_INCLUDE_OBJECT = ("None", "Metadata", "Object")


def wants_table(request: Request) -> bool:
    """Whether the ``Accept`` header asks for a ``meta.k8s.io/v1`` Table (before any plain JSON choice)."""
    for choice in request.headers.get("accept", "").split(","):
        params = {}
        for part in choice.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            params[key.strip()] = value.strip()
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") == "v1":
            return True
        if choice.strip().split(";")[0].strip() in ("application/json", "*/*") and "as" not in params:
            return False
    return False


def include_object(request: Request) -> str:
    value = request.query_params.get("includeObject") or "Metadata"
    if value not in _INCLUDE_OBJECT:
        raise KubernetesError.bad_request(
            f"invalid includeObject {value!r}: must be one of {', '.join(_INCLUDE_OBJECT)}"
        )
    return value


# -- formatting --------------------------------------------------------------------------------------------
def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration``: ``52s``, ``3m7s``, ``12m``, ``5h3m``, ``10h``, ``3d4h``, ``9d``..."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        return f"{years}y{days % 365}d" if days % 365 else f"{years}y"
    return f"{years}y"


def _age(obj: dict[str, Any], now: float) -> str:
    created = obj.get("metadata", {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    return human_duration(now - datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())


def _column(name: str, kind: str, description: str, priority: int = 0, fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": kind, "format": fmt, "description": description, "priority": priority}


_NAME = _column("Name", "string", "Name must be unique within a namespace.", fmt="name")
_AGE = _column("Age", "string", "CreationTimestamp is a timestamp representing the server time when this object was created.")


# -- pods ----------------------------------------------------------------------------------------------------
def _terminated_reason(state: dict[str, Any], prefix: str = "") -> str:
    if state.get("reason"):
        return prefix + state["reason"]
    if state.get("signal"):
        return f"{prefix}Signal:{state['signal']}"
    return f"{prefix}ExitCode:{state.get('exitCode', 0)}"


def pod_status_reason(pod: dict[str, Any]) -> str:
    """The STATUS kubectl prints for a pod (the API server's pod printer)."""
    status = pod.get("status", {})
    reason = status.get("reason") or status.get("phase") or "Unknown"
    init_statuses = status.get("initContainerStatuses") or []
    initializing = False
    for i, container in enumerate(init_statuses):
        state = container.get("state", {})
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and terminated.get("exitCode") == 0:
            continue
        initializing = True
        if terminated:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_statuses)}"
        break
    if not initializing:
        has_running = False
        for container in reversed(status.get("containerStatuses") or []):
            state = container.get("state", {})
            if state.get("waiting", {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif state.get("terminated"):
                reason = _terminated_reason(state["terminated"])
            elif state.get("running") and container.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running"
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


_POD_COLUMNS = [
    _NAME,
    _column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    _column("Status", "string", "The aggregate status of the containers in this pod."),
    _column("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
    _AGE,
    _column("IP", "string", "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", 1),
    _column("Node", "string", "NodeName is a request to schedule this pod onto a specific node.", 1),
    _column("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on the node.", 1),
    _column("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness.", 1),
]


def _pod_cells(pod: dict[str, Any], now: float) -> list[Any]:
    status = pod.get("status", {})
    containers = pod.get("spec", {}).get("containers", [])
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(c.get("restartCount", 0) for c in statuses)
    return [
        pod["metadata"]["name"],
        f"{ready}/{len(containers)}",
        pod_status_reason(pod),
        str(restarts),
        _age(pod, now),
        status.get("podIP") or "<none>",
        pod.get("spec", {}).get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        "<none>",
    ]


# -- nodes ---------------------------------------------------------------------------------------------------
_NODE_COLUMNS = [
    _NAME,
    _column("Status", "string", "The status of the node"),
    _column("Roles", "string", "The roles of the node"),
    _AGE,
    _column("Version", "string", "Kubelet Version reported by the node."),
    _column("Internal-IP", "string", "List of addresses reachable to the node.", 1),
    _column("External-IP", "string", "List of addresses reachable to the node.", 1),
    _column("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1),
    _column("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
    _column("Container-Runtime", "string", "Container runtime version reported by the node through runtime remote API (e.g. containerd://1.4.2).", 1),
]


def _node_cells(node: dict[str, Any], now: float) -> list[Any]:
    status = node.get("status", {})
    ready = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), None)
    state = "Ready" if ready and ready.get("status") == "True" else "NotReady"
    if node.get("spec", {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    prefix = "node-role.kubernetes.io/"
    roles = sorted(k[len(prefix):] for k in node["metadata"].get("labels", {}) if k.startswith(prefix))
    addresses = {a["type"]: a["address"] for a in status.get("addresses", [])}
    info = status.get("nodeInfo", {})
    return [
        node["metadata"]["name"],
        state,
        ",".join(roles) or "<none>",
        _age(node, now),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP", "<none>"),
        addresses.get("ExternalIP", "<none>"),
        info.get("osImage", "<unknown>"),
        info.get("kernelVersion", "<unknown>"),
        info.get("containerRuntimeVersion", "<unknown>"),
    ]


# -- namespaces ------------------------------------------------------------------------------------------------
_NAMESPACE_COLUMNS = [_NAME, _column("Status", "string", "The status of the namespace"), _AGE]


def _namespace_cells(namespace: dict[str, Any], now: float) -> list[Any]:
    return [namespace["metadata"]["name"], namespace.get("status", {}).get("phase", "Active"), _age(namespace, now)]


_PRINTERS: dict[str, tuple[list[dict[str, Any]], Callable[[dict[str, Any], float], list[Any]]]] = {
    "Pod": (_POD_COLUMNS, _pod_cells),
    "Node": (_NODE_COLUMNS, _node_cells),
    "Namespace": (_NAMESPACE_COLUMNS, _namespace_cells),
}


def _row_object(obj: dict[str, Any], kind: str, include: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return {"kind": kind, "apiVersion": "v1", **{k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(
    kind: str,
    objects: list[dict[str, Any]],
    now: float,
    include: str,
    resource_version: str,
    continue_token: str | None = None,
    remaining: int | None = None,
) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table of ``objects`` (all of ``kind``: ``Pod``, ``Node`` or ``Namespace``)."""
    columns, cells = _PRINTERS[kind]
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
        metadata["remainingItemCount"] = remaining
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": cells(obj, now)}
        row_object = _row_object(obj, kind, include)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    }
