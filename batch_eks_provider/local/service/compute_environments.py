"""Create/Update/Delete/DescribeComputeEnvironments for managed EKS compute environments."""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

from ..errors import ClientException
from ..instance_types import resolve_instance_types
from ..store.models import ComputeEnvironment
from ..store.state import EngineState
from .pagination import describe_resources
from .validation import check_name, check_namespace, check_state, check_tags, existing, require

__all__ = ["create", "update", "delete", "describe", "to_wire", "MAX_CES_PER_CLUSTER"]

MAX_CES_PER_CLUSTER = 5
MAX_DESCRIBE = 100
_EKS_CLUSTER_ARN_RE = re.compile(r"^arn:aws[a-z-]*:eks:[a-z0-9-]+:\d{12}:cluster/[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_ALLOCATION_STRATEGIES = ("BEST_FIT_PROGRESSIVE", "SPOT_CAPACITY_OPTIMIZED")
_IMAGE_TYPES = ("EKS_AL2023", "EKS_AL2023_NVIDIA", "EKS_AL2", "EKS_AL2_NVIDIA")


def _check_compute_resources(resources: dict[str, Any]) -> dict[str, Any]:
    resources = copy.deepcopy(resources)
    require(resources, "type", "maxvCpus")
    if resources["type"] not in ("EC2", "SPOT"):
        raise ClientException(
            f"Invalid computeResources.type {resources['type']!r}: EKS compute environments support EC2 and SPOT."
        )
    strategy = resources.get("allocationStrategy")
    if strategy not in _ALLOCATION_STRATEGIES:
        raise ClientException(
            f"Invalid computeResources.allocationStrategy {strategy!r}: EKS compute environments require "
            "BEST_FIT_PROGRESSIVE or SPOT_CAPACITY_OPTIMIZED."
        )
    if strategy == "SPOT_CAPACITY_OPTIMIZED" and resources["type"] != "SPOT":
        raise ClientException(
            f"Invalid computeResources.allocationStrategy {strategy!r}: SPOT_CAPACITY_OPTIMIZED applies to SPOT "
            f"compute resources only, and computeResources.type is {resources['type']!r}."
        )
    resources.setdefault("minvCpus", 0)
    resources.setdefault("instanceTypes", ["optimal"])
    _check_vcpus(resources["minvCpus"], resources.get("desiredvCpus"), resources["maxvCpus"])
    try:
        resolve_instance_types(resources["instanceTypes"])
    except KeyError as e:
        raise ClientException(
            f"Invalid computeResources.instanceTypes: instance type {e.args[0]!r} is not supported."
        ) from None
    for config in resources.get("ec2Configuration") or []:
        if config.get("imageType") not in _IMAGE_TYPES:
            raise ClientException(
                f"Invalid ec2Configuration imageType {config.get('imageType')!r}: EKS compute environments "
                f"support {', '.join(_IMAGE_TYPES)}."
            )
    resources.setdefault("ec2Configuration", [{"imageType": "EKS_AL2023"}])
    resources.setdefault("desiredvCpus", resources["minvCpus"])
    return resources


def _check_vcpus(min_vcpus: Any, desired: Any, max_vcpus: Any) -> None:
    if int(min_vcpus) < 0 or int(max_vcpus) < 0:
        raise ClientException(
            f"Invalid computeResources: minvCpus ({min_vcpus}) and maxvCpus ({max_vcpus}) must not be negative."
        )
    if int(min_vcpus) > int(max_vcpus):
        raise ClientException(f"minvCpus ({min_vcpus}) must not be greater than maxvCpus ({max_vcpus}).")
    if desired is not None and not (int(min_vcpus) <= int(desired) <= int(max_vcpus)):
        raise ClientException(
            f"desiredvCpus ({desired}) must be between minvCpus ({min_vcpus}) and maxvCpus ({max_vcpus})."
        )


def create(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    require(params, "computeEnvironmentName", "type")
    name = check_name("computeEnvironmentName", params["computeEnvironmentName"])
    if name in state.compute_environments:
        raise ClientException(f"Object already exists: compute environment {name!r}.")
    if params["type"] != "MANAGED":
        raise ClientException(
            f"Invalid type {params['type']!r}: the local engine supports MANAGED EKS compute environments."
        )
    eks = params.get("eksConfiguration")
    if not eks:
        raise ClientException("eksConfiguration is required: the local engine supports EKS compute environments.")
    require(eks, "eksClusterArn", "kubernetesNamespace")
    check_namespace(eks["kubernetesNamespace"], "eksConfiguration.kubernetesNamespace")
    if not _EKS_CLUSTER_ARN_RE.match(str(eks["eksClusterArn"])):
        raise ClientException(
            f"Invalid eksConfiguration.eksClusterArn {eks['eksClusterArn']!r}: not an EKS cluster ARN "
            "(arn:aws:eks:<region>:<account>:cluster/<name>)."
        )
    same_cluster = [
        ce.name
        for ce in state.compute_environments.values()
        if ce.cluster_arn == eks["eksClusterArn"] and ce.status != "DELETING"
    ]
    if len(same_cluster) >= MAX_CES_PER_CLUSTER:
        raise ClientException(
            f"Cannot create compute environment {name!r}: EKS cluster {eks['eksClusterArn']} already has "
            f"{len(same_cluster)} compute environments ({', '.join(sorted(same_cluster))}); at most "
            f"{MAX_CES_PER_CLUSTER} are allowed per cluster."
        )
    if "computeResources" not in params:
        raise ClientException("computeResources is required for a MANAGED compute environment.")
    if params.get("unmanagedvCpus") is not None:
        raise ClientException("unmanagedvCpus applies to UNMANAGED compute environments only; this one is MANAGED.")
    check_state(params.get("state"))
    check_tags(params.get("tags"))
    spec = {
        "type": "MANAGED",
        "computeResources": _check_compute_resources(params["computeResources"]),
        "eksConfiguration": dict(eks),
        "tags": params.get("tags") or {},
    }
    if params.get("serviceRole"):
        spec["serviceRole"] = params["serviceRole"]
    arn = state.config.arn(f"compute-environment/{name}")
    ce = ComputeEnvironment(
        name=name,
        arn=arn,
        uuid=str(uuid.uuid4()),
        spec=spec,
        state=params.get("state") or "ENABLED",
        status="CREATING",
        created_at=state.clock.now(),
    )
    state.add(ce)
    return {"computeEnvironmentName": name, "computeEnvironmentArn": arn}


def _find(state: EngineState, ref: str) -> ComputeEnvironment:
    return existing(state.find_compute_environment(ref), "Compute environment", ref)


def update(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    """Change state and capacity; everything is checked before anything changes."""
    require(params, "computeEnvironment")
    ce = _find(state, params["computeEnvironment"])
    new_state = check_state(params.get("state"))
    changes = {k: v for k, v in (params.get("computeResources") or {}).items() if v is not None}
    merged = None
    if changes:
        resources = ce.spec["computeResources"]
        if changes.get("type", resources["type"]) != resources["type"]:
            raise ClientException(
                f"Invalid computeResources.type {changes['type']!r}: compute environment {ce.name!r} is "
                f"{resources['type']} and its type cannot be changed."
            )
        merged = {**resources, **changes}
        if "desiredvCpus" not in changes:
            merged["desiredvCpus"] = min(max(int(resources.get("desiredvCpus", 0)), int(merged["minvCpus"])), int(merged["maxvCpus"]))
        merged = _check_compute_resources(merged)
    if new_state is not None:
        ce.state = new_state
    if merged is not None:
        ce.spec["computeResources"] = merged
        ce.status = "UPDATING"
    if params.get("serviceRole"):
        ce.spec["serviceRole"] = params["serviceRole"]
    state.touch(ce)
    return {"computeEnvironmentName": ce.name, "computeEnvironmentArn": ce.arn}


def delete(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    require(params, "computeEnvironment")
    ce = _find(state, params["computeEnvironment"])
    if ce.state != "DISABLED":
        raise ClientException(f"Cannot delete compute environment {ce.name!r}: it must be DISABLED first.")
    users = [q.name for q in state.job_queues.values() if ce.arn in q.compute_environment_arns]
    if users:
        raise ClientException(
            f"Cannot delete compute environment {ce.name!r}: it is still used by job queue(s) {', '.join(users)}."
        )
    ce.status = "DELETING"
    state.touch(ce)
    return {}


def to_wire(ce: ComputeEnvironment, tags: dict[str, str] | None = None) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "computeEnvironmentName": ce.name,
        "computeEnvironmentArn": ce.arn,
        "state": ce.state,
        "status": ce.status,
        "containerOrchestrationType": "EKS",
        "uuid": ce.uuid,
        **copy.deepcopy(ce.spec),
    }
    if ce.status_reason:
        wire["statusReason"] = ce.status_reason
    if tags is not None:
        wire["tags"] = dict(tags)
    return wire


def describe(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    return describe_resources(
        params,
        field="computeEnvironments",
        result_field="computeEnvironments",
        records=list(state.compute_environments.values()),
        find=state.find_compute_environment,
        to_wire=to_wire,
        key=lambda ce: (ce.created_at, ce.name),
        max_refs=MAX_DESCRIBE,
    )
