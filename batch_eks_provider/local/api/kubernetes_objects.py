"""Kubernetes JSON for the engine's records: nodes, pods, namespaces, lists, ``Status`` errors and the
label and field selectors that filter lists.

Objects follow the core/v1 shapes the API server returns (camelCase, RFC 3339 timestamps), so the official
``kubernetes`` client deserializes them into ``V1Pod``, ``V1Node`` and friends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from ..instance_types import INSTANCE_TYPES
from ..service.pods import node_ip, pod_ip
from ..store.models import Node, Pod
from ..errors import KubernetesError

__all__ = [
    "KUBERNETES_MAJOR",
    "KUBERNETES_MINOR",
    "KUBERNETES_VERSION",
    "KubernetesError",
    "rfc3339",
    "rfc3339_nano",
    "status_object",
    "node_object",
    "pod_object",
    "pod_arrival_states",
    "pod_departure_states",
    "namespace_object",
    "list_object",
    "LabelSelector",
    "FieldSelector",
    "select",
]

KUBERNETES_MAJOR = "1"
KUBERNETES_MINOR = "30"
KUBERNETES_VERSION = {
    "major": KUBERNETES_MAJOR,
    "minor": KUBERNETES_MINOR,
    "gitVersion": f"v{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}.0-eks-batch-local",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}
# What kubelet reserves on an EKS-optimized AMI; allocatable = capacity - this (see instance_types.py).
_MAX_PODS = 29


def status_object(error: KubernetesError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": error.message,
        "reason": error.reason,
        "code": error.code,
    }
    if error.details:
        body["details"] = error.details
    return body


def rfc3339(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_nano(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z"


def _quantity_cpu(vcpus: float) -> str:
    return str(int(vcpus)) if float(vcpus).is_integer() else f"{int(round(vcpus * 1000))}m"


# -- nodes ----------------------------------------------------------------------------------------------------
def node_object(node: Node, ce: Any, region: str, resource_version: str, kubernetes_version: str | None = None) -> dict[str, Any]:
    """A ``V1Node`` from the engine's node: its labels, taints and zone as capacity set them at launch; the
    kubelet reports ``kubernetes_version`` (the EKS cluster's version, e.g. ``"1.30"``)."""
    instance = INSTANCE_TYPES.get(node.instance_type)
    capacity_mib = instance.memory_mib if instance else node.memory_mib
    zone = node.zone or f"{region}a"
    kubelet = f"v{kubernetes_version or f'{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}'}.0-eks-batch-local"
    capacity = {
        "cpu": _quantity_cpu(node.vcpus),
        "memory": f"{capacity_mib * 1024}Ki",
        "pods": str(_MAX_PODS),
        "ephemeral-storage": "31444972Ki",
    }
    allocatable = {
        "cpu": _quantity_cpu(node.vcpus),
        "memory": f"{node.memory_mib * 1024}Ki",
        "pods": str(_MAX_PODS),
        "ephemeral-storage": "27905944324",
    }
    if node.gpus:
        capacity["nvidia.com/gpu"] = allocatable["nvidia.com/gpu"] = str(node.gpus)
    ready = node.status == "Ready"
    moment = rfc3339(node.ready_at if ready else node.launched_at)
    ip = node_ip(node.name)
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": node.name,
            "uid": node.uid,
            "resourceVersion": resource_version,
            "creationTimestamp": rfc3339(node.launched_at),
            "labels": dict(node.labels),
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {
            "providerID": f"aws:///{zone}/{node.instance_id}",
            "taints": [dict(taint) for taint in node.taints],
        },
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": [
                *(
                    {
                        "type": kind,
                        "status": "False",
                        "reason": reason,
                        "message": message,
                        "lastHeartbeatTime": moment,
                        "lastTransitionTime": moment,
                    }
                    for kind, reason, message in (
                        (
                            "MemoryPressure",
                            "KubeletHasSufficientMemory",
                            "kubelet has sufficient memory available",
                        ),
                        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                    )
                ),
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "reason": "KubeletReady" if ready else "KubeletNotReady",
                    "message": "kubelet is posting ready status" if ready else "node is starting",
                    "lastHeartbeatTime": moment,
                    "lastTransitionTime": moment,
                },
            ],
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "InternalDNS", "address": node.name},
                {"type": "Hostname", "address": node.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": node.labels.get("kubernetes.io/arch", "amd64"),
                "bootID": node.uid,
                "containerRuntimeVersion": "local://batch-eks",
                "kernelVersion": "6.1.0-batch-eks-local",
                "kubeProxyVersion": kubelet,
                "kubeletVersion": kubelet,
                "machineID": node.uid.replace("-", ""),
                "operatingSystem": "linux",
                "osImage": "Amazon Linux 2023 (batch-eks local engine)",
                "systemUUID": node.uid,
            },
        },
    }


# -- pods -------------------------------------------------------------------------------------------------------
# the prefix of an attempt's reason when a container's image could not be had (the docker runtime's wording, as
# Batch reports it); kubelet shows such a container waiting, ErrImagePull
_CANNOT_PULL = "CannotPullContainerError"
# what a container that never started was doing when its pod ended (the runtimes' results with no exit code)
_WAITING_REASONS = ("ContainerCreating", "PodInitializing")


def _waiting(reason: str, message: str | None = None) -> dict[str, Any]:
    waiting: dict[str, Any] = {"reason": reason}
    if message:
        waiting["message"] = message
    return {"waiting": waiting}


def _ended_state(ended: dict[str, Any], pod: Pod) -> dict[str, Any]:
    """The state of a container whose pod has ended: terminated with its exit code, or still waiting when it
    never started -- its image could not be pulled (``ErrImagePull``, the pull's error as the message), or
    the pod ended while it was being created."""
    exit_code, reason = ended.get("exitCode"), ended.get("reason") or ""
    if exit_code is None and reason.startswith(_CANNOT_PULL):
        return _waiting("ErrImagePull", reason.removeprefix(f"{_CANNOT_PULL}:").strip())
    if exit_code is None and reason in _WAITING_REASONS:
        return _waiting(reason)
    terminated: dict[str, Any] = {
        "exitCode": 137 if exit_code is None else exit_code,
        "reason": reason or ("Completed" if exit_code == 0 else "Error"),
        "startedAt": rfc3339(pod.started_at or pod.created_at),
        "finishedAt": rfc3339(pod.finished_at or pod.created_at),
    }
    if ended.get("containerID"):
        terminated["containerID"] = ended["containerID"]
    return {"terminated": terminated}


def _container_status(container: dict[str, Any], pod: Pod, init: bool = False) -> dict[str, Any]:
    """One entry of ``containerStatuses`` (``initContainerStatuses`` when ``init``), as kubelet reports it:
    every container waits (``ContainerCreating``; ``PodInitializing`` in a pod with init containers) until
    the pod's containers have started; then the containers run and the init containers have completed; at the
    pod's end each shows how it ended."""
    name = container["name"]
    image = container.get("image") or ""
    ended = pod.container_states.get(name)
    status: dict[str, Any] = {
        "name": name,
        "image": image,
        "imageID": image,
        "restartCount": 0,
        "ready": False,
        "started": False,
    }
    running = pod.phase == "Running" and pod.finished_at is None
    if ended is not None:
        status["state"] = _ended_state(ended, pod)
        if ended.get("containerID") and "terminated" in status["state"]:
            status["containerID"] = ended["containerID"]
    elif running and init:  # the containers run: every init container has completed
        status["state"] = {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": rfc3339(pod.created_at),
                "finishedAt": rfc3339(pod.started_at or pod.created_at),
            }
        }
    elif running:
        status.update(ready=True, started=True, state={"running": {"startedAt": rfc3339(pod.started_at or pod.created_at)}})
    else:
        status["state"] = _waiting("PodInitializing" if pod.spec.get("initContainers") else "ContainerCreating")
    return status


def _qos_class(spec: dict[str, Any]) -> str:
    containers = spec.get("containers", [])
    if all(
        (c.get("resources") or {}).get("limits")
        and (c.get("resources") or {}).get("requests", (c.get("resources") or {}).get("limits"))
        == c["resources"]["limits"]
        for c in containers
    ):
        return "Guaranteed"
    return "Burstable"


def pod_object(pod: Pod, resource_version: str) -> dict[str, Any]:
    """A ``V1Pod``: ``hostIP`` is its node's, ``podIP`` its own unless it is on the host's network
    (:func:`~..service.pods.pod_ip`); container states as :func:`_container_status` says."""
    host_ip, ip = node_ip(pod.node_name), pod_ip(pod)
    running = pod.phase == "Running" and pod.finished_at is None
    initialized = not pod.spec.get("initContainers") or pod.started_at is not None
    started = rfc3339(pod.started_at or pod.created_at)
    metadata: dict[str, Any] = {
        "name": pod.name,
        "namespace": pod.namespace,
        "uid": pod.uid,
        "resourceVersion": resource_version,
        "creationTimestamp": rfc3339(pod.created_at),
        "labels": dict(pod.labels),
    }
    if pod.deleted:
        metadata["deletionTimestamp"] = rfc3339(pod.finished_at or pod.created_at)
        metadata["deletionGracePeriodSeconds"] = 30
    status: dict[str, Any] = {
        "phase": pod.phase,
        "conditions": [
            {"type": kind, "status": "True" if ok else "False", "lastTransitionTime": started}
            for kind, ok in (
                ("Initialized", initialized),
                ("Ready", running),
                ("ContainersReady", running),
                ("PodScheduled", True),
            )
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": started,
        "containerStatuses": [_container_status(c, pod) for c in pod.spec.get("containers", [])],
        "qosClass": _qos_class(pod.spec),
    }
    if pod.spec.get("initContainers"):
        status["initContainerStatuses"] = [_container_status(c, pod, init=True) for c in pod.spec["initContainers"]]
    return {"kind": "Pod", "apiVersion": "v1", "metadata": metadata, "spec": pod.spec, "status": status}


def _stage(pod: dict[str, Any], phase: str, container_state: dict[str, Any] | None, ready: bool) -> dict[str, Any]:
    """``pod`` as it was at an earlier stage: ``container_state`` for every container (None: none yet)."""
    truth = {"PodScheduled": True, "Initialized": container_state is not None, "Ready": ready, "ContainersReady": ready}
    status = dict(pod["status"], phase=phase)
    status["conditions"] = [dict(c, status="True" if truth.get(c["type"]) else "False") for c in status["conditions"]]
    status.pop("initContainerStatuses", None)
    if container_state is None:
        status.pop("containerStatuses", None)
        status.pop("startTime", None)
    else:
        status["containerStatuses"] = [
            {k: v for k, v in c.items() if k != "containerID"} | {"state": container_state, "ready": ready, "started": ready}
            for c in status.get("containerStatuses", [])
        ]
    metadata = {k: v for k, v in pod["metadata"].items() if k not in ("deletionTimestamp", "deletionGracePeriodSeconds")}
    return dict(pod, metadata=metadata, status=status)


def pod_arrival_states(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The states a watch reports for a pod that appeared since its last look: the engine creates, schedules
    and starts a pod in one step, where a kubelet reports Pending, then ContainerCreating, then Running."""
    if pod["status"]["phase"] == "Pending":
        return [_stage(pod, "Pending", None, False), pod]  # scheduled, then its containers being created
    started = pod["status"].get("startTime") or pod["metadata"]["creationTimestamp"]
    states = [
        _stage(pod, "Pending", None, False),
        _stage(pod, "Pending", {"waiting": {"reason": "ContainerCreating"}}, False),
    ]
    never_started = any("waiting" in c.get("state", {}) for c in pod["status"].get("containerStatuses", []))
    if pod["status"]["phase"] != "Running" and not never_started:  # (an image that could not be pulled: no Running)
        states.append(_stage(pod, "Running", {"running": {"startedAt": started}}, True))
    return [*states, pod]


def pod_departure_states(pod: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """The states a watch reports for a pod that went away: Terminating (a ``deletionTimestamp``), then
    DELETED with the same object, as the API server reports a pod's graceful deletion."""
    metadata = dict(pod["metadata"])
    metadata.setdefault("deletionTimestamp", rfc3339(now))
    metadata.setdefault("deletionGracePeriodSeconds", 0)
    terminating = dict(pod, metadata=metadata)
    return [terminating, terminating]


# -- namespaces and lists -------------------------------------------------------------------------------------
def namespace_object(name: str, uid: str, created_at: float, resource_version: str) -> dict[str, Any]:
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "uid": uid,
            "resourceVersion": resource_version,
            "creationTimestamp": rfc3339(created_at),
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def list_object(
    kind: str,
    items: list[dict[str, Any]],
    resource_version: str,
    continue_token: str | None = None,
    remaining: int | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
        metadata["remainingItemCount"] = remaining
    for item in items:  # items of a list carry no kind/apiVersion of their own
        item.pop("kind", None)
        item.pop("apiVersion", None)
    return {"kind": kind, "apiVersion": "v1", "metadata": metadata, "items": items}


# -- selectors --------------------------------------------------------------------------------------------------
_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"


def _split_terms(text: str) -> list[str]:
    """Split on commas outside parentheses (``a in (x,y),b=c``)."""
    terms, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    terms.append(current)
    return [t.strip() for t in terms if t.strip()]


@dataclass(frozen=True)
class _Requirement:
    key: str
    operator: str  # = != in notin exists !exists
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!exists":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values  # != and notin match when the label is absent


class LabelSelector:
    """A parsed ``labelSelector``: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k``, ``!k``."""

    def __init__(self, text: str | None) -> None:
        self.requirements: list[_Requirement] = []
        for term in _split_terms(text or ""):
            self.requirements.append(self._parse(term))

    @staticmethod
    def _parse(term: str) -> _Requirement:
        if match := re.fullmatch(rf"!\s*({_KEY})", term):
            return _Requirement(match.group(1), "!exists")
        if match := re.fullmatch(rf"({_KEY})\s+(in|notin)\s+\(([^)]*)\)", term):
            values = tuple(v.strip() for v in match.group(3).split(",") if v.strip())
            return _Requirement(match.group(1), match.group(2), values)
        if match := re.fullmatch(rf"({_KEY})\s*(==|=|!=)\s*({_VALUE})", term):
            operator = "!=" if match.group(2) == "!=" else "="
            return _Requirement(match.group(1), operator, (match.group(3),))
        if re.fullmatch(_KEY, term):
            return _Requirement(term, "exists")
        raise KubernetesError.bad_request(
            f"unable to parse requirement: invalid label selector term {term!r}"
        )

    def matches(self, labels: dict[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


class FieldSelector:
    """A parsed ``fieldSelector`` (``field=value``, ``field==value``, ``field!=value``, comma-joined) over the
    fields a resource supports; any other field is refused as the API server refuses it."""

    def __init__(self, text: str | None, fields: dict[str, Callable[[Any], str]]) -> None:
        self.terms: list[tuple[Callable[[Any], str], bool, str]] = []
        for term in _split_terms(text or ""):
            match = re.fullmatch(r"([A-Za-z.]+)\s*(==|=|!=)\s*(.*)", term)
            if match is None:
                raise KubernetesError.bad_request(
                    f"invalid selector: {term!r}; expected field=value or field!=value"
                )
            field, operator, value = match.groups()
            if field not in fields:
                raise KubernetesError.bad_request(f"field label not supported: {field}")
            self.terms.append((fields[field], operator != "!=", value))

    def matches(self, record: Any) -> bool:
        return all((getter(record) == value) == equal for getter, equal, value in self.terms)


def select(
    records: Iterable[Any],
    labels: Callable[[Any], dict[str, str]],
    label_selector: LabelSelector,
    field_selector: FieldSelector,
) -> list[Any]:
    return [r for r in records if label_selector.matches(labels(r)) and field_selector.matches(r)]
