"""Turn the submit operator's rendered fields into one SubmitJob request, before any API call.

Templated fields arrive as strings unless the DAG sets ``render_template_as_native_obj=True`` (a Param
``"{{ params.command }}"`` renders to ``"['sh', '-c', 'echo hi']"``), so :func:`as_list`, :func:`as_dict`
and :func:`as_int` accept both forms. The request itself is built and checked by
:func:`batch_eks_provider.hooks.submit_request.build_submit_request`; the fields it does not know yet are added
and checked here.
"""

from __future__ import annotations

import ast
import json
import math
import shlex
from typing import Any, Iterable

from ..exceptions import BatchEksInvalidInputError
from ..hooks.submit_request import SubmitRequestSpec

__all__ = ["as_list", "as_dict", "as_int", "as_float", "depends_on_entries", "build_spec"]


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


def _number(field: str, value: Any, rule: str) -> float | int:
    if isinstance(value, bool):
        raise BatchEksInvalidInputError(field, value, rule)
    try:
        number = value if isinstance(value, (int, float)) else float(str(value).strip())
    except ValueError:
        raise BatchEksInvalidInputError(field, value, rule) from None
    if isinstance(number, float) and not math.isfinite(number):
        raise BatchEksInvalidInputError(field, value, rule)
    return number


def as_int(field: str, value: Any) -> int | None:
    """A whole number from an int, a float without a fraction, or a string of one (``"nan"``/``"inf"`` are not)."""
    if value is None or value == "":
        return None
    number = _number(field, value, "must be a whole number.")
    if number != int(number):
        raise BatchEksInvalidInputError(field, value, "must be a whole number.")
    return int(number)


def as_float(field: str, value: Any, *, minimum: float | None = None) -> float | None:
    """A finite number of seconds (or a ``timedelta``) from a number or a string of one; at least ``minimum``."""
    if value is None or value == "":
        return None
    if hasattr(value, "total_seconds"):
        value = value.total_seconds()
    rule = "must be a number" + (f" of at least {minimum:g}." if minimum is not None else ".")
    number = float(_number(field, value, rule))
    if minimum is not None and number < minimum:
        raise BatchEksInvalidInputError(field, value, rule)
    return number


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


def build_spec(fields: dict[str, Any]) -> SubmitRequestSpec:
    """The :class:`~batch_eks_provider.hooks.submit_request.SubmitRequestSpec` of the operator's rendered fields.

    Strings from templates are read back into lists, mappings and numbers here (or a
    :class:`~batch_eks_provider.exceptions.BatchEksInvalidInputError` naming field, value and rule); every
    rule of the request is checked by :func:`~batch_eks_provider.hooks.submit_request.build_submit_request`.
    """
    timeout = fields.get("timeout")
    retry_strategy = fields.get("retry_strategy")
    spec = SubmitRequestSpec(
        job_name=fields["job_name"],
        job_queue=as_list("job_queue", fields["job_queue"]) if isinstance(fields["job_queue"], str) and fields["job_queue"].strip().startswith("[") else fields["job_queue"],
        job_definition=fields["job_definition"],
        command=as_list("command", fields.get("command")),
        args=as_list("args", fields.get("args")),
        env=as_dict("env", fields.get("env")),
        cpu=_blank_is_none(fields.get("cpu")),
        memory=_blank_is_none(fields.get("memory")),
        gpus=as_int("gpus", fields.get("gpus")),
        eks_properties_override=as_dict("eks_properties_override", fields.get("eks_properties_override")),
        depends_on=depends_on_entries(fields.get("depends_on")) or None,
        array_size=as_int("array_size", fields.get("array_size")),
        retry_strategy=as_dict("retry_strategy", retry_strategy) if isinstance(retry_strategy, str) else retry_strategy or None,
        timeout=as_int("timeout", timeout) if isinstance(timeout, str) else timeout,
        share_identifier=_blank_is_none(fields.get("share_identifier")),
        scheduling_priority=as_int("scheduling_priority", fields.get("scheduling_priority")),
        tags=as_dict("tags", fields.get("tags")),
        parameters=as_dict("parameters", fields.get("parameters")),
    )
    return spec


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value
