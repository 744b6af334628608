"""Turn the submit operator's rendered fields into one SubmitJob request, before any API call.

Templated fields arrive as strings unless the DAG sets ``render_template_as_native_obj=True`` (a Param
``"{{ params.command }}"`` renders to ``"['sh', '-c', 'echo hi']"``), so :func:`as_list`, :func:`as_dict`
and :func:`as_int` accept both forms. The request itself is built and checked by
:func:`batch_eks_provider.submit_request.build_submit_request`; the fields it does not know yet are added
and checked here.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import shlex
from datetime import timedelta
from typing import Any, Iterable

from ..exceptions import BatchEksInvalidInputError
from ..submit_request import SubmitRequestSpec, build_submit_request

__all__ = ["as_list", "as_dict", "as_int", "depends_on_entries", "retry_strategy_request", "build_request"]


def _literal(field: str, text: str, kind: type) -> Any:
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, kind):
            return value
    raise BatchEksInvalidInputError(field, text, f"must be a {kind.__name__} (or a string that reads as one).")


def as_list(field: str, value: Any) -> list[str] | None:
    """A command/args value: a list, a list literal string, or a shell-like string split with :mod:`shlex`."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return [str(v) for v in _literal(field, text, list)]
        try:
            return shlex.split(text)
        except ValueError as error:
            raise BatchEksInvalidInputError(field, value, f"cannot be split into words: {error}.") from None
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    raise BatchEksInvalidInputError(field, value, "must be a list of strings or a string.")


def as_dict(field: str, value: Any) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return _literal(field, value.strip(), dict)
    if isinstance(value, dict):
        return value
    raise BatchEksInvalidInputError(field, value, "must be a mapping.")


def as_int(field: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BatchEksInvalidInputError(field, value, "must be a whole number.")
    try:
        number = float(str(value).strip()) if not isinstance(value, (int, float)) else value
    except ValueError:
        raise BatchEksInvalidInputError(field, value, "must be a whole number.") from None
    if number != int(number):
        raise BatchEksInvalidInputError(field, value, "must be a whole number.")
    return int(number)


def depends_on_entries(value: Any) -> list[dict[str, str]]:
    """``dependsOn`` from job ids, upstream task outputs (rendered to job ids), or ``{"jobId", "type"}`` dicts.

    ``None`` entries (an upstream that pushed nothing) are skipped.
    """
    if value is None or value == "":
        return []
    items: Iterable[Any] = [value] if isinstance(value, (str, dict)) else value
    entries: list[dict[str, str]] = []
    for item in items:
        if item is None or item == "":
            continue
        if isinstance(item, dict):
            if not item.get("jobId") and item.get("type") != "SEQUENTIAL":
                raise BatchEksInvalidInputError("depends_on", item, "an entry given as a mapping needs a 'jobId'.")
            entries.append({k: str(v) for k, v in item.items() if k in ("jobId", "type")})
        elif isinstance(item, (list, tuple)):
            entries.extend(depends_on_entries(item))
        else:
            entries.append({"jobId": str(item)})
    if len(entries) > 20:
        raise BatchEksInvalidInputError("depends_on", [e.get("jobId") for e in entries], "a job can depend on at most 20 jobs.")
    return entries


def retry_strategy_request(value: Any) -> dict[str, Any] | None:
    """``retryStrategy`` from a :class:`~batch_eks_provider.retry.RetryStrategy` or a wire-format dict."""
    if value is None or value == "":
        return None
    for method in ("to_request", "as_request", "to_wire", "to_dict", "as_dict"):
        convert = getattr(value, method, None)
        if callable(convert):
            return convert()
    value = as_dict("retry_strategy", value)
    attempts = value.get("attempts")
    if attempts is not None and not (1 <= as_int("retry_strategy.attempts", attempts) <= 10):
        raise BatchEksInvalidInputError("retry_strategy.attempts", attempts, "must be between 1 and 10.")
    if len(value.get("evaluateOnExit") or []) > 5:
        raise BatchEksInvalidInputError("retry_strategy.evaluateOnExit", value["evaluateOnExit"], "at most 5 rules.")
    return value


def _timeout_seconds(value: Any) -> int | None:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    seconds = as_int("timeout", value)
    if seconds is not None and seconds < 60:
        raise BatchEksInvalidInputError("timeout", value, "AWS Batch needs at least 60 seconds (attemptDurationSeconds).")
    return seconds


def _merge_override(request: dict[str, Any], raw: dict[str, Any] | None) -> None:
    """Lay the shorthand-built container override over the raw ``eks_properties_override``."""
    if not raw:
        return
    built = request.get("eksPropertiesOverride", {}).get("podProperties", {}).get("containers", [])
    merged = json.loads(json.dumps(raw))
    pod = merged.setdefault("podProperties", {})
    containers = pod.setdefault("containers", [])
    if built:
        if containers:
            containers[0] = {**containers[0], **built[0]}
        else:
            containers.append(built[0])
    request["eksPropertiesOverride"] = merged


def build_request(fields: dict[str, Any]) -> dict[str, Any]:
    """One SubmitJob request (wire names) from the operator's rendered fields, or a
    :class:`~batch_eks_provider.exceptions.BatchEksInvalidInputError` naming field, value and rule."""
    known = {f.name for f in dataclasses.fields(SubmitRequestSpec)}
    spec_values = {
        "job_name": fields["job_name"],
        "job_queue": fields["job_queue"],
        "job_definition": fields["job_definition"],
        "command": as_list("command", fields.get("command")),
        "args": as_list("args", fields.get("args")),
        "env": as_dict("env", fields.get("env")),
        "cpu": fields.get("cpu") if fields.get("cpu") != "" else None,
        "memory": fields.get("memory") if fields.get("memory") != "" else None,
        "gpus": as_int("gpus", fields.get("gpus")),
    }
    extras = {
        "eks_properties_override": as_dict("eks_properties_override", fields.get("eks_properties_override")),
        "depends_on": depends_on_entries(fields.get("depends_on")),
        "array_size": as_int("array_size", fields.get("array_size")),
        "retry_strategy": retry_strategy_request(fields.get("retry_strategy")),
        "timeout": _timeout_seconds(fields.get("timeout")),
        "share_identifier": fields.get("share_identifier") or None,
        "scheduling_priority": as_int("scheduling_priority", fields.get("scheduling_priority")),
        "tags": as_dict("tags", fields.get("tags")),
        "parameters": as_dict("parameters", fields.get("parameters")),
    }
    request = build_submit_request(
        SubmitRequestSpec(**{k: v for k, v in {**spec_values, **extras}.items() if k in known})
    )
    _add_unknown_to_spec(request, {k: v for k, v in extras.items() if k not in known})
    return request


def _add_unknown_to_spec(request: dict[str, Any], extras: dict[str, Any]) -> None:
    """Fields ``build_submit_request`` does not take (yet): checked here, added in wire form."""
    if "eks_properties_override" in extras:
        _merge_override(request, extras["eks_properties_override"])
    if extras.get("depends_on"):
        request["dependsOn"] = extras["depends_on"]
    size = extras.get("array_size")
    if size is not None:
        if not 2 <= size <= 10000:
            raise BatchEksInvalidInputError("array_size", size, "an array job has between 2 and 10000 children.")
        request["arrayProperties"] = {"size": size}
    if extras.get("retry_strategy"):
        request["retryStrategy"] = extras["retry_strategy"]
    if extras.get("timeout"):
        request["timeout"] = {"attemptDurationSeconds": extras["timeout"]}
    if extras.get("share_identifier"):
        request["shareIdentifier"] = str(extras["share_identifier"])
    priority = extras.get("scheduling_priority")
    if priority is not None:
        if not 0 <= priority <= 9999:
            raise BatchEksInvalidInputError("scheduling_priority", priority, "must be between 0 and 9999.")
        request["schedulingPriorityOverride"] = priority
    if extras.get("tags"):
        request["tags"] = {str(k): str(v) for k, v in extras["tags"].items()}
    if extras.get("parameters"):
        request["parameters"] = {str(k): str(v) for k, v in extras["parameters"].items()}
