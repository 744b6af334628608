"""Build and check a SubmitJob request from what a DAG author wrote, before any API call.

Every rule AWS Batch would enforce on these fields is checked here, so bad input fails the task at once
with :class:`~batch_eks_provider.exceptions.BatchEksInvalidInputError` naming the field, the value and the
rule, and no SubmitJob is ever sent for it. ``job_queue`` may be a list (the operator picks one with the
hook's ``choose_queue``): check it with :func:`normalize_job_queues`, then build with the chosen name.

.. seealso:: https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html
"""

from __future__ import annotations

import copy
import datetime
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from ..exceptions import BatchEksInvalidInputError
from ..retry_strategy import RetryStrategy

__all__ = [
    "SubmitRequestSpec",
    "build_submit_request",
    "normalize_cpu",
    "normalize_memory",
    "normalize_job_queues",
    "MAX_DEPENDENCIES",
    "MAX_TAGS",
    "MAX_PAYLOAD_BYTES",
]

_JOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_SHARE_RE = re.compile(r"^[A-Za-z0-9_]{1,255}$")
MAX_DEPENDENCIES = 20
MAX_TAGS = 50
MAX_PAYLOAD_BYTES = 30 * 1024
MAX_JOB_QUEUES = 3
_CONTAINER_KEYS = ("name", "image", "command", "args", "env", "resources")
_RESOURCE_KEYS = ("cpu", "memory", "nvidia.com/gpu")


@dataclass
class SubmitRequestSpec:
    """Everything the submit operator passes to SubmitJob, in DAG-author terms.

    ``cpu``/``memory``/``gpus``/``command``/``args``/``env`` override the first container through
    ``eksPropertiesOverride``; ``eks_properties_override`` (the wire ``{"podProperties": ...}``) is merged with
    them, and setting the same thing both ways is an error.
    """

    job_name: str
    job_queue: str | list[str]
    job_definition: str
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None
    cpu: str | float | int | None = None
    memory: str | None = None
    gpus: int | None = None
    eks_properties_override: dict[str, Any] | None = None
    depends_on: list[str | dict[str, Any]] | str | None = None
    array_size: int | None = None
    retry_strategy: RetryStrategy | dict[str, Any] | None = None
    timeout: int | datetime.timedelta | dict[str, Any] | None = None
    share_identifier: str | None = None
    scheduling_priority: int | None = None
    tags: dict[str, str] | None = None
    system_tags: dict[str, str] | None = None
    """Tags the provider adds (the Airflow identity and try tags): counted against the 50-tag limit with ``tags``."""
    parameters: dict[str, str] | None = None


def _whole_number(field: str, value: Any, rule: str) -> int:
    if isinstance(value, bool):
        raise BatchEksInvalidInputError(field, value, rule)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise BatchEksInvalidInputError(field, value, rule)


def normalize_cpu(value: Any, field: str = "cpu") -> str:
    """``"0.5"``, ``2``, ``1.25`` -> the wire string; millicores and other forms are rejected."""
    text = str(value).strip()
    if isinstance(value, bool):
        raise BatchEksInvalidInputError(field, value, "must be a number of vCPUs such as '0.5' or '2'.")
    if text.endswith("m"):
        raise BatchEksInvalidInputError(
            field,
            value,
            "AWS Batch on EKS does not accept millicores; use whole vCPUs or multiples of 0.25 such as '0.25' or '2'.",
        )
    try:
        cpu = Decimal(text)
    except InvalidOperation:
        raise BatchEksInvalidInputError(
            field, value, "must be a number of vCPUs such as '0.5' or '2'."
        ) from None
    if not cpu.is_finite() or cpu < Decimal("0.25") or (cpu * 4) % 1 != 0:
        raise BatchEksInvalidInputError(field, value, "must be at least 0.25 and a multiple of 0.25.")
    return format(cpu.normalize(), "f")


def normalize_memory(value: Any, field: str = "memory") -> str:
    """``"2048Mi"`` (whole MiB with the ``Mi`` suffix, at least 4)."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.endswith("Mi") or not text[:-2].isdigit():
        raise BatchEksInvalidInputError(
            field, value, "must be whole MiB with the 'Mi' suffix, e.g. '2048Mi'."
        )
    if int(text[:-2]) < 4:
        raise BatchEksInvalidInputError(field, value, "must be at least 4Mi.")
    return text


def _normalize_gpus(value: Any, field: str = "gpus") -> str:
    rule = "must be a whole number of GPUs, 0 or more."
    gpus = _whole_number(field, value, rule)
    if gpus < 0:
        raise BatchEksInvalidInputError(field, value, rule)
    return str(gpus)


def normalize_job_queues(value: Any) -> list[str]:
    """A queue name/ARN or an ordered list of at most 3 to fall back through -> a list of non-empty names."""
    queues = [value] if isinstance(value, str) else value
    if not isinstance(queues, (list, tuple)) or not queues:
        raise BatchEksInvalidInputError(
            "job_queue", value, "must be a queue name or ARN, or a non-empty list of them."
        )
    if len(queues) > MAX_JOB_QUEUES:
        raise BatchEksInvalidInputError(
            "job_queue", value, f"give at most {MAX_JOB_QUEUES} queues to fall back through."
        )
    for queue in queues:
        if not isinstance(queue, str) or not queue.strip():
            raise BatchEksInvalidInputError(
                "job_queue", queue, "every queue must be a non-empty name or ARN."
            )
    if len(set(queues)) != len(queues):
        raise BatchEksInvalidInputError("job_queue", value, "lists the same queue twice.")
    return list(queues)


def _string_list(field: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise BatchEksInvalidInputError(
            field, value, "must be a list of strings, e.g. ['python', 'main.py']."
        )
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise BatchEksInvalidInputError(field, item, "every item must be a string (or a number).")
    return [str(item) for item in value]


def _env_list(field: str, value: Any) -> list[dict[str, str]]:
    if not isinstance(value, Mapping):
        raise BatchEksInvalidInputError(field, value, "must be a dict of variable name to value.")
    result = []
    for name, var in value.items():
        if not isinstance(name, str) or not name or "=" in name:
            raise BatchEksInvalidInputError(
                field, name, "variable names must be non-empty strings without '='."
            )
        if name.startswith("AWS_BATCH"):
            raise BatchEksInvalidInputError(
                field, name, "names starting with AWS_BATCH are reserved for AWS Batch."
            )
        if var is None or isinstance(var, (dict, list, tuple, set)):
            raise BatchEksInvalidInputError(f"{field}.{name}", var, "must be a string (or a number).")
        result.append({"name": name, "value": str(var)})
    return result


def _check_override(value: Any) -> dict[str, Any]:
    """Check the raw ``eksPropertiesOverride`` shape and its resource values."""
    field = "eks_properties_override"
    if not isinstance(value, Mapping) or set(value) - {"podProperties"}:
        raise BatchEksInvalidInputError(
            field, value, "must be {'podProperties': {...}} as in SubmitJob's eksPropertiesOverride."
        )
    pod = value.get("podProperties") or {}
    if not isinstance(pod, Mapping) or set(pod) - {"containers", "initContainers", "metadata"}:
        raise BatchEksInvalidInputError(
            f"{field}.podProperties", pod, "may contain only containers, initContainers and metadata."
        )
    for section in ("containers", "initContainers"):
        containers = pod.get(section) or []
        if not isinstance(containers, list):
            raise BatchEksInvalidInputError(
                f"{field}.podProperties.{section}", containers, "must be a list of container overrides."
            )
        for i, container in enumerate(containers):
            where = f"{field}.podProperties.{section}[{i}]"
            if not isinstance(container, Mapping):
                raise BatchEksInvalidInputError(where, container, "must be a dict.")
            unknown = sorted(set(container) - set(_CONTAINER_KEYS))
            if unknown:
                raise BatchEksInvalidInputError(
                    f"{where}.{unknown[0]}",
                    container[unknown[0]],
                    f"unknown key; use {', '.join(_CONTAINER_KEYS)}.",
                )
            for key in ("command", "args"):
                if container.get(key) is not None:
                    _string_list(f"{where}.{key}", container[key])
            for j, var in enumerate(container.get("env") or []):
                name = var.get("name", "") if isinstance(var, Mapping) else var
                if not isinstance(name, str) or not name or name.startswith("AWS_BATCH"):
                    raise BatchEksInvalidInputError(
                        f"{where}.env[{j}].name", name, "must be non-empty and not start with AWS_BATCH."
                    )
            resources = container.get("resources") or {}
            for part in ("limits", "requests"):
                for key, amount in (resources.get(part) or {}).items():
                    rfield = f"{where}.resources.{part}.{key}"
                    if key == "cpu":
                        normalize_cpu(amount, rfield)
                    elif key == "memory":
                        normalize_memory(amount, rfield)
                    elif key == "nvidia.com/gpu":
                        _normalize_gpus(amount, rfield)
                    else:
                        raise BatchEksInvalidInputError(
                            rfield, amount, "only cpu, memory and nvidia.com/gpu are supported."
                        )
    return copy.deepcopy(dict(value))


def _merge_first_container(override: dict[str, Any], shorthand: dict[str, Any]) -> dict[str, Any]:
    """Put the shorthands into ``containers[0]`` of the raw override; the same setting given both ways is an error."""
    pod = override.setdefault("podProperties", {})
    containers = pod.setdefault("containers", [])
    if not containers:
        containers.append({})
    first = containers[0]
    where = "eks_properties_override.podProperties.containers[0]"
    for key, field in (("command", "command"), ("args", "args")):
        if key in shorthand:
            if first.get(key) is not None:
                raise BatchEksInvalidInputError(
                    field, shorthand[key], f"is also set in {where}.{key}; set it one way only."
                )
            first[key] = shorthand[key]
    if "env" in shorthand:
        existing = {var.get("name") for var in first.get("env") or []}
        clash = [var["name"] for var in shorthand["env"] if var["name"] in existing]
        if clash:
            raise BatchEksInvalidInputError(
                "env", clash[0], f"is also set in {where}.env; set it one way only."
            )
        first["env"] = list(first.get("env") or []) + shorthand["env"]
    limits = shorthand.get("limits") or {}
    if limits:
        resources = first.setdefault("resources", {})
        for part in ("limits", "requests"):
            for key in limits:
                if key in (resources.get(part) or {}):
                    field = {"nvidia.com/gpu": "gpus"}.get(key, key)
                    raise BatchEksInvalidInputError(
                        field, limits[key], f"is also set in {where}.resources.{part}; set it one way only."
                    )
        resources.setdefault("limits", {}).update(limits)
    return override


def _depends_on(value: Any, array_size: int | None) -> list[dict[str, str]]:
    field = "depends_on"
    items = [value] if isinstance(value, (str, Mapping)) else value
    if not isinstance(items, (list, tuple)):
        raise BatchEksInvalidInputError(
            field, value, "must be a job id, or a list of job ids or {'jobId', 'type'} dicts."
        )
    if len(items) > MAX_DEPENDENCIES:
        raise BatchEksInvalidInputError(
            field, f"{len(items)} dependencies", f"a job can depend on at most {MAX_DEPENDENCIES} jobs."
        )
    result: list[dict[str, str]] = []
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        if isinstance(item, str):
            item = {"jobId": item}
        if not isinstance(item, Mapping) or set(item) - {"jobId", "type"}:
            raise BatchEksInvalidInputError(
                where, item, "must be a job id or a dict with 'jobId' and optional 'type'."
            )
        dep_type, job_id = item.get("type"), item.get("jobId")
        if dep_type is not None and dep_type not in ("N_TO_N", "SEQUENTIAL"):
            raise BatchEksInvalidInputError(f"{where}.type", dep_type, "must be N_TO_N or SEQUENTIAL.")
        if dep_type is not None and array_size is None:
            raise BatchEksInvalidInputError(
                f"{where}.type", dep_type, "N_TO_N and SEQUENTIAL dependencies need array_size."
            )
        if job_id is None and dep_type != "SEQUENTIAL":
            raise BatchEksInvalidInputError(
                f"{where}.jobId", job_id, "is required (only a SEQUENTIAL array dependency may omit it)."
            )
        if job_id is not None and (not isinstance(job_id, str) or not job_id.strip()):
            raise BatchEksInvalidInputError(f"{where}.jobId", job_id, "must be a non-empty job id.")
        entry = {"jobId": job_id} if job_id is not None else {}
        if dep_type is not None:
            entry["type"] = dep_type
        result.append(entry)
    return result


def _timeout(value: Any) -> dict[str, int]:
    field = "timeout"
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
        if seconds != int(seconds):
            raise BatchEksInvalidInputError(field, value, "must be whole seconds.")
        seconds = int(seconds)
    elif isinstance(value, Mapping):
        if set(value) != {"attemptDurationSeconds"}:
            raise BatchEksInvalidInputError(
                field, value, "a dict must be exactly {'attemptDurationSeconds': seconds}."
            )
        seconds = _whole_number(
            f"{field}.attemptDurationSeconds",
            value["attemptDurationSeconds"],
            "must be whole seconds, at least 60.",
        )
    else:
        seconds = _whole_number(
            field,
            value,
            "must be whole seconds (at least 60), a timedelta, or {'attemptDurationSeconds': n}.",
        )
    if seconds < 60:
        raise BatchEksInvalidInputError(
            field, value, "must be at least 60 seconds (AWS Batch's minimum attempt duration)."
        )
    return {"attemptDurationSeconds": seconds}


def _tags(value: Any, system: Mapping[str, str] | None = None) -> dict[str, str]:
    field = "tags"
    if not isinstance(value, Mapping):
        raise BatchEksInvalidInputError(field, value, "must be a dict of tag key to value.")
    added = {k: v for k, v in (system or {}).items() if k not in value}
    if len(value) + len(added) > MAX_TAGS:
        given = f"{len(value)} tags" + (f" plus {len(added)} Airflow tags ({', '.join(added)})" if added else "")
        raise BatchEksInvalidInputError(
            field,
            given,
            f"at most {MAX_TAGS} tags are allowed in all"
            + (f"; with the Airflow tags a DAG may set at most {MAX_TAGS - len(added)}." if added else "."),
        )
    value = {**value, **(system or {})}
    for key, tag in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            raise BatchEksInvalidInputError(f"{field} key", key, "must be a string of 1 to 128 characters.")
        if key.lower().startswith("aws:"):
            raise BatchEksInvalidInputError(f"{field} key", key, "the 'aws:' prefix is reserved for AWS.")
        if not isinstance(tag, str) or len(tag) > 256:
            raise BatchEksInvalidInputError(
                f"{field}.{key}", tag, "must be a string of at most 256 characters."
            )
    return dict(value)


def _parameters(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise BatchEksInvalidInputError(
            "parameters", value, "must be a dict of parameter name to string value."
        )
    for key, param in value.items():
        if not isinstance(key, str) or not key:
            raise BatchEksInvalidInputError("parameters key", key, "must be a non-empty string.")
        if not isinstance(param, str):
            raise BatchEksInvalidInputError(
                f"parameters.{key}", param, "must be a string (Batch substitutes Ref::name with it)."
            )
    return dict(value)


def build_submit_request(spec: SubmitRequestSpec) -> dict[str, Any]:
    """Check every field of ``spec`` and return the SubmitJob request (wire names).

    :raises BatchEksInvalidInputError: at the first field that breaks a rule, naming field, value and rule.
    """
    if not isinstance(spec.job_name, str) or not _JOB_NAME_RE.match(spec.job_name):
        raise BatchEksInvalidInputError(
            "job_name",
            spec.job_name,
            "up to 128 letters, digits, '-' and '_', starting with a letter or digit.",
        )
    if not isinstance(spec.job_queue, str) or not spec.job_queue.strip():
        raise BatchEksInvalidInputError(
            "job_queue", spec.job_queue, "must be one queue name or ARN here (choose from a list first)."
        )
    if not isinstance(spec.job_definition, str) or not spec.job_definition.strip():
        raise BatchEksInvalidInputError(
            "job_definition", spec.job_definition, "is required: a name, name:revision or ARN."
        )
    request: dict[str, Any] = {
        "jobName": spec.job_name,
        "jobQueue": spec.job_queue,
        "jobDefinition": spec.job_definition,
    }

    shorthand: dict[str, Any] = {}
    if spec.command is not None:
        shorthand["command"] = _string_list("command", spec.command)
    if spec.args is not None:
        shorthand["args"] = _string_list("args", spec.args)
    if spec.env:
        shorthand["env"] = _env_list("env", spec.env)
    limits: dict[str, str] = {}
    if spec.cpu is not None:
        limits["cpu"] = normalize_cpu(spec.cpu)
    if spec.memory is not None:
        limits["memory"] = normalize_memory(spec.memory)
    if spec.gpus is not None:
        limits["nvidia.com/gpu"] = _normalize_gpus(spec.gpus)
    if limits:
        shorthand["limits"] = limits
    override = (
        _check_override(spec.eks_properties_override) if spec.eks_properties_override is not None else {}
    )
    if shorthand:
        override = _merge_first_container(override, shorthand)
    if override.get("podProperties"):
        request["eksPropertiesOverride"] = override

    array_size = None
    if spec.array_size is not None:
        array_size = _whole_number("array_size", spec.array_size, "must be a whole number from 2 to 10000.")
        if not 2 <= array_size <= 10000:
            raise BatchEksInvalidInputError(
                "array_size", spec.array_size, "must be a whole number from 2 to 10000."
            )
        request["arrayProperties"] = {"size": array_size}
    if spec.depends_on is not None:
        depends_on = _depends_on(spec.depends_on, array_size)
        if depends_on:
            request["dependsOn"] = depends_on
    if spec.retry_strategy is not None:
        request["retryStrategy"] = RetryStrategy.coerce(spec.retry_strategy).to_api()
    if spec.timeout is not None:
        request["timeout"] = _timeout(spec.timeout)
    if spec.share_identifier is not None:
        if not isinstance(spec.share_identifier, str) or not _SHARE_RE.match(spec.share_identifier):
            raise BatchEksInvalidInputError(
                "share_identifier", spec.share_identifier, "must be 1 to 255 letters, digits or '_'."
            )
        request["shareIdentifier"] = spec.share_identifier
    if spec.scheduling_priority is not None:
        priority = _whole_number(
            "scheduling_priority", spec.scheduling_priority, "must be a whole number from 0 to 9999."
        )
        if not 0 <= priority <= 9999:
            raise BatchEksInvalidInputError(
                "scheduling_priority", spec.scheduling_priority, "must be a whole number from 0 to 9999."
            )
        request["schedulingPriorityOverride"] = priority
    if spec.tags or spec.system_tags:
        request["tags"] = _tags(spec.tags or {}, spec.system_tags)
    if spec.parameters:
        request["parameters"] = _parameters(spec.parameters)
    size = len(json.dumps(request))
    if size > MAX_PAYLOAD_BYTES:
        raise BatchEksInvalidInputError(
            "request",
            f"{size} bytes",
            f"a SubmitJob request may be at most {MAX_PAYLOAD_BYTES} bytes (30 KiB).",
        )
    return request
