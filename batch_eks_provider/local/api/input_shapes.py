"""Validate a request's parameters against botocore's input shape for its operation, as AWS does.

boto3 validates on the client side, so these checks matter for every other client (raw HTTP, other
SDKs, the AWS CLI with ``--cli-input-json``): a wrong type or a missing required member is answered
with a 400 that names the member, its value and the type expected, instead of failing deeper down.
Members the model does not know are ignored, as AWS ignores them; JSON ``null`` means "absent".

Numbers are checked against their shape's range, which botocore's ParamValidator leaves out: an
``integer`` member holds an int32, a ``long`` an int64, a shape's ``max`` is a maximum, and a ``float`` or
``double`` must be finite (JSON ``NaN``, ``Infinity`` and ``1e400`` are refused naming the member).
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

from ..errors import ClientException, EngineError

if TYPE_CHECKING:  # botocore is imported on the first request: importing it costs ~1 s of engine start-up
    from botocore.model import ServiceModel, Shape

__all__ = ["service_model", "validate_input", "drop_nulls"]

_JSON_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "float": "a number",
    "double": "a number",
    "boolean": "a boolean (true or false)",
    "list": "a list",
    "map": "an object (map)",
    "structure": "an object",
    "timestamp": "a timestamp",
    "blob": "base64 text",
}


@functools.lru_cache(maxsize=None)
def service_model(service: str) -> ServiceModel:
    """botocore's model of ``service`` (``batch``, ``eks``, ``logs``), loaded once."""
    import botocore.loaders
    from botocore.model import ServiceModel

    return ServiceModel(botocore.loaders.Loader().load_service_model(service, "service-2"), service_name=service)


def drop_nulls(value: Any) -> Any:
    """Remove ``null`` members from objects (recursively): AWS reads them as absent."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _member_shape(root: Shape, path: str) -> Shape | None:
    """The shape at a ParamValidator path such as ``.arrayProperties.size`` or ``.dependsOn[0].jobId``."""
    shape: Shape | None = root
    for part in path.replace("[", ".[").split("."):
        if not part or shape is None:
            continue
        if part.startswith("["):
            shape = getattr(shape, "member", None)
        elif shape.type_name == "map":
            shape = shape.value
        else:
            shape = shape.members.get(part) if shape.type_name == "structure" else None
    return shape


def _describe(root: Shape, kind: str, path: str, info: dict[str, Any]) -> str | None:
    where = path.lstrip(".") or "the request"
    if kind == "missing required field":
        parent = f" in {where}" if path else ""
        return f"Missing required parameter {info['required_name']!r}{parent}."
    if kind == "invalid type":
        shape = _member_shape(root, path)
        expected = _JSON_TYPE_NAMES.get(shape.type_name, shape.type_name) if shape is not None else "another type"
        shape_name = f" ({shape.name})" if shape is not None else ""
        if shape is not None and shape.type_name in ("float", "double") and info["param"] in ("NaN", "Infinity", "-Infinity"):
            # how the SDKs send a non-finite float (boto3 sends float('inf') as "Infinity")
            return f"Invalid value for parameter {where}: {info['param']!r} is not a finite number{shape_name}."
        return f"Invalid type for parameter {where}: {info['param']!r} is {_json_type(info['param'])}, expected {expected}{shape_name}."
    if kind == "invalid range":
        return f"Invalid value for parameter {where}: {info['param']!r} is below the minimum of {info['min_allowed']}."
    if kind == "invalid length":
        return f"Invalid length for parameter {where}: {info['param']!r} is shorter than the minimum length {info['min_allowed']}."
    if kind == "unknown field":
        return None  # AWS ignores members it does not know
    return f"Invalid parameter {where}: {kind}."


_INTEGER_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def _number_problems(value: Any, shape: Shape, path: str) -> list[str]:
    kind = shape.type_name
    if isinstance(value, bool):
        return [f"Invalid type for parameter {path}: {value!r} is a boolean, expected a number ({shape.name})."]
    if kind in _INTEGER_RANGES and isinstance(value, int):
        low, high = _INTEGER_RANGES[kind]
        high = min(high, shape.metadata.get("max", high))
        if value > high or value < low:
            shown = repr(value) if len(str(value)) <= 40 else f"a {len(str(abs(value)))}-digit number"
            bits = "32" if kind == "integer" else "64"
            return [f"Invalid value for parameter {path}: {shown} is out of range: {shape.name} must be between "
                    f"{max(low, shape.metadata.get('min', low))} and {high} (a {bits}-bit integer)."]
    if kind in ("float", "double") and isinstance(value, float) and not math.isfinite(value):
        return [f"Invalid value for parameter {path}: {value!r} is not a finite number ({shape.name})."]
    return []


def _length_problems(value: Any, shape: Shape, path: str) -> list[str]:
    limit = shape.metadata.get("max")
    if limit is not None and isinstance(value, (str, list)) and len(value) > limit:  # maps (tags): the service says it
        return [f"Invalid length for parameter {path}: {len(value)} is longer than the maximum length {limit}."]
    return []


# Enums AWS reads without regard to case (EvaluateOnExit.action: "The values aren't case sensitive").
_CASE_INSENSITIVE_ENUMS = frozenset({"RetryAction"})


def _value_problems(value: Any, shape: Shape, path: str) -> list[str]:
    """What ParamValidator leaves out: JSON ``true`` where a number is expected (Python's bool is an
    int), numbers out of their shape's range, non-finite floats, maximum lengths and string values
    outside the member's enum."""
    kind = shape.type_name
    if kind in ("integer", "long", "float", "double"):
        return _number_problems(value, shape, path)
    problems: list[str] = _length_problems(value, shape, path)
    if kind == "string" and shape.enum and isinstance(value, str):
        allowed = list(shape.enum)
        candidates = [a.lower() for a in allowed] if shape.name in _CASE_INSENSITIVE_ENUMS else allowed
        probe = value.lower() if shape.name in _CASE_INSENSITIVE_ENUMS else value
        if probe not in candidates:
            problems.append(f"Invalid value for parameter {path}: {value!r} is not one of {', '.join(allowed)}.")
        return problems
    if kind == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                problems += _value_problems(item, shape.members[key], f"{path}.{key}".lstrip("."))
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            problems += _value_problems(item, shape.member, f"{path}[{i}]")
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            problems += _value_problems(item, shape.value, f"{path}.{key}")
    return problems


@functools.lru_cache(maxsize=None)
def _validator():
    from botocore.validate import ParamValidator

    return ParamValidator()


def validate_input(
    service: str,
    operation: str,
    params: dict[str, Any],
    error: type[EngineError] = ClientException,
) -> dict[str, Any]:
    """Check ``params`` against ``operation``'s input shape; return them without ``null`` members.

    :raises EngineError: ``error`` (``ClientException`` by default) naming every offending member.
    """
    params = drop_nulls(params)
    shape = service_model(service).operation_model(operation).input_shape
    if shape is None:
        return params

    report = _validator().validate(params, shape)
    messages = [m for kind, path, info in report._errors if (m := _describe(shape, kind, path, info))]
    messages += [m for m in _value_problems(params, shape, "") if m not in messages]
    if messages:
        raise error(" ".join(messages))
    return params
