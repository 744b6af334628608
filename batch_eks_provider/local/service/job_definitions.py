"""RegisterJobDefinition, DescribeJobDefinitions, DeregisterJobDefinition (EKS job definitions)."""

from __future__ import annotations

import copy
import re
from typing import Any

from ..errors import ClientException
from ..store.models import JobDefinition
from ..store.state import EngineState
from .pagination import paginate
from ..resources import normalize_container_resources
from .validation import (
    check_env,
    check_name,
    check_namespace,
    check_retry_strategy,
    check_tags,
    check_timeout,
    require,
)

__all__ = ["register", "describe", "deregister", "normalize_pod_properties", "to_wire"]

# A DNS subdomain name (RFC 1123), which EksVolume.name and EksSecret.secretName must be (botocore's docs)
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_SUBDOMAIN_RULE = (
    "must be a DNS subdomain name: at most 253 lowercase letters, digits, '-' and '.', "
    "starting and ending with a letter or a digit"
)
_NOT_FOR_EKS = ("platformCapabilities", "propagateTags", "containerProperties", "ecsProperties", "nodeProperties")
_DNS_POLICIES = ("Default", "ClusterFirst", "ClusterFirstWithHostNet")
MAX_CONTAINERS = 10
MAX_DESCRIBE = 100


def normalize_pod_properties(pod: dict[str, Any], where: str) -> dict[str, Any]:
    """Validate EKS ``podProperties`` and fill in Batch's defaults for container names and resources.

    ``hostNetwork`` and ``dnsPolicy`` stay as given (absent when not given: DescribeJobDefinitions and
    DescribeJobs return no ``dnsPolicy`` that was not given, botocore's ``EksPodPropertiesDetail`` docs); the
    pod's spec gets their defaults (:func:`~..scheduling.pods.default_dns_policy`), which depend on whether
    ``hostNetwork`` was given at all."""
    pod = copy.deepcopy(pod)
    containers = pod.get("containers") or []
    if not containers:
        raise ClientException(f"{where}.containers must list at least one container.")
    for section in ("containers", "initContainers"):
        count = len(pod.get(section) or [])
        if count > MAX_CONTAINERS:
            raise ClientException(f"{where}.{section} has {count} containers; at most {MAX_CONTAINERS} are allowed.")
    dns_policy = pod.get("dnsPolicy")
    if dns_policy is not None and dns_policy not in _DNS_POLICIES:
        raise ClientException(f"Invalid {where}.dnsPolicy {dns_policy!r}: must be one of {', '.join(_DNS_POLICIES)}.")
    namespace = (pod.get("metadata") or {}).get("namespace")
    if namespace is not None:
        check_namespace(namespace, f"{where}.metadata.namespace")
    volumes = _check_volumes(pod.get("volumes"), f"{where}.volumes")
    seen: set[str] = set()
    for section in ("initContainers", "containers"):
        for i, container in enumerate(pod.get(section) or []):
            cwhere = f"{where}.{section}[{i}]"
            if not container.get("image"):
                raise ClientException(f"{cwhere}.image is required.")
            container.setdefault("name", "Default" if section == "containers" and i == 0 else f"{section[:-1].lower()}-{i}")
            if container["name"] in seen:
                raise ClientException(f"{cwhere}.name {container['name']!r} is used by another container.")
            seen.add(container["name"])
            check_env(container.get("env"), cwhere)
            _check_volume_mounts(container.get("volumeMounts"), volumes, cwhere, f"{where}.volumes")
            container["resources"] = normalize_container_resources(container.get("resources"), cwhere)
    return pod


def _check_dns_subdomain(value: Any, field: str) -> None:
    if not isinstance(value, str) or len(value) > 253 or not _DNS_SUBDOMAIN_RE.match(value):
        raise ClientException(f"Invalid {field} {value!r}: {_DNS_SUBDOMAIN_RULE}.")


def _check_volumes(volumes: list[dict[str, Any]] | None, where: str) -> list[str]:
    """The naming rules botocore's docs give ``EksVolume.name`` and ``EksSecret.secretName`` (DNS subdomain
    names; the members botocore marks required are refused before this, :mod:`..api.input_shapes`); returns
    the volumes' names. What a runtime cannot mount (a secret on the docker runtime) is its attempt's failure,
    not a refusal here: AWS accepts it."""
    names = []
    for i, volume in enumerate(volumes or []):
        _check_dns_subdomain(volume.get("name"), f"{where}[{i}].name")
        if volume.get("secret") is not None:
            _check_dns_subdomain(volume["secret"].get("secretName"), f"{where}[{i}].secret.secretName")
        names.append(volume["name"])
    return names


def _check_volume_mounts(mounts: list[dict[str, Any]] | None, volumes: list[str], where: str, volumes_where: str) -> None:
    """Each ``volumeMounts[].name`` "must match the name of one of the volumes in the pod" (botocore's
    ``EksContainerVolumeMount`` docs)."""
    for i, mount in enumerate(mounts or []):
        name = mount.get("name")
        if name not in volumes:
            defined = ", ".join(repr(v) for v in volumes) if volumes else "none"
            raise ClientException(
                f"Invalid {where}.volumeMounts[{i}].name {name!r}: it must match the name of one of the volumes "
                f"in the pod ({volumes_where}: {defined})."
            )


def register(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    require(params, "jobDefinitionName", "type")
    name = check_name("jobDefinitionName", params["jobDefinitionName"])
    if params["type"] != "container":
        raise ClientException(
            f"Invalid type {params['type']!r}: the local engine runs EKS job definitions of type 'container'."
        )
    for key in _NOT_FOR_EKS:
        if params.get(key) not in (None, [], {}, False):
            raise ClientException(
                f"Invalid {key} {params[key]!r}: {key} cannot be set on a job definition that uses eksProperties."
            )
    eks = params.get("eksProperties") or {}
    if "podProperties" not in eks:
        raise ClientException("eksProperties.podProperties is required: the local engine runs EKS jobs only.")
    pod = normalize_pod_properties(eks["podProperties"], "eksProperties.podProperties")
    retry = check_retry_strategy(params.get("retryStrategy"))
    check_timeout(params.get("timeout"))
    check_tags(params.get("tags"))
    priority = params.get("schedulingPriority")
    if priority is not None and not 0 <= int(priority) <= 9999:
        raise ClientException(f"Invalid schedulingPriority {priority!r}: must be between 0 and 9999.")
    revision = 1 + max((d.revision for d in state.job_definitions.values() if d.name == name), default=0)
    arn = state.config.arn(f"job-definition/{name}:{revision}")
    spec: dict[str, Any] = {
        "type": "container",
        "parameters": params.get("parameters") or {},
        "eksProperties": {"podProperties": pod},
        "containerOrchestrationType": "EKS",
        "tags": params.get("tags") or {},
    }
    for key in ("timeout", "schedulingPriority"):
        if params.get(key) is not None:
            spec[key] = params[key]
    if retry:
        spec["retryStrategy"] = retry
    state.add(JobDefinition(arn=arn, name=name, revision=revision, status="ACTIVE", spec=spec))
    return {"jobDefinitionName": name, "jobDefinitionArn": arn, "revision": revision}


def to_wire(definition: JobDefinition, tags: dict[str, str] | None = None) -> dict[str, Any]:
    wire = {
        "jobDefinitionName": definition.name,
        "jobDefinitionArn": definition.arn,
        "revision": definition.revision,
        "status": definition.status,
        **copy.deepcopy(definition.spec),
    }
    if tags is not None:
        wire["tags"] = dict(tags)
    return wire


def describe(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    definitions = sorted(state.job_definitions.values(), key=lambda d: (d.name, d.revision))
    refs = params.get("jobDefinitions") or []
    if len(refs) > MAX_DESCRIBE:
        raise ClientException(f"jobDefinitions lists {len(refs)} entries; at most {MAX_DESCRIBE} are allowed.")
    if refs and (params.get("jobDefinitionName") or params.get("status")):
        raise ClientException("jobDefinitions cannot be combined with jobDefinitionName or status.")
    if params.get("status") not in (None, "ACTIVE", "INACTIVE"):
        raise ClientException(f"Invalid status {params['status']!r}: must be ACTIVE or INACTIVE.")
    if refs:
        wanted = []
        for ref in refs:
            if ref.startswith("arn:"):
                found = state.job_definitions.get(ref)
                wanted += [found] if found else []
            elif ":" in ref:
                found = state.find_job_definition(ref)
                wanted += [found] if found else []
            else:
                wanted += [d for d in definitions if d.name == ref]
        definitions = wanted
    if params.get("jobDefinitionName"):
        definitions = [d for d in definitions if d.name == params["jobDefinitionName"]]
    if params.get("status"):
        definitions = [d for d in definitions if d.status == params["status"]]
    position = lambda d: (d.name, d.revision)  # noqa: E731 - the stable order pages follow
    definitions = sorted({d.arn: d for d in definitions}.values(), key=position)
    page, token = paginate(definitions, params, key=position, default_max=100, limit=100)
    body: dict[str, Any] = {"jobDefinitions": [to_wire(d) for d in page]}
    if token:
        body["nextToken"] = token
    return body


def deregister(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    require(params, "jobDefinition")
    ref = params["jobDefinition"]
    definition = state.find_job_definition(ref) if ":" in ref.rsplit("/", 1)[-1] else None
    if definition is None:
        raise ClientException(f"Job definition {ref!r} does not exist; give name:revision or its ARN.")
    definition.status = "INACTIVE"
    state.touch(definition)
    return {}
