"""CloudWatch Logs (``awsJson1_1``): ``POST /`` with ``X-Amz-Target: Logs_20140328.<Operation>``.

The web page answers ``GET /``; this route takes only the ``POST`` that carries the target header.
"""

from __future__ import annotations

from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..service import log_events as cloudwatch
from ..errors import EngineError, InvalidParameterException
from .input_shapes import validate_input
from .wire import aws_call, read_json

__all__ = ["cloudwatch_logs_routes", "check_bounds", "TARGET_PREFIX", "CONTENT_TYPE"]

TARGET_PREFIX = "Logs_20140328."
CONTENT_TYPE = "application/x-amz-json-1.1"

OPERATIONS: dict[str, Callable[[Any, dict[str, Any]], dict[str, Any]]] = {
    "DescribeLogGroups": cloudwatch.describe_log_groups,
    "DescribeLogStreams": cloudwatch.describe_log_streams,
    "GetLogEvents": cloudwatch.get_log_events,
    "FilterLogEvents": cloudwatch.filter_log_events,
}


_INT_BOUNDS = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def check_bounds(operation: str, params: dict[str, Any]) -> None:
    """Check each top-level member against its botocore shape's upper bounds, which botocore's own
    validator leaves out: numbers within the shape's ``min``..``max`` and the int32/int64 range, strings
    and lists no longer than ``max``. (Lower bounds and types are checked by :func:`validate_input`.)

    :raises InvalidParameterException: naming the member, its value and the rule.
    """
    from .input_shapes import service_model

    shape = service_model("logs").operation_model(operation).input_shape
    for name, value in params.items():
        member = shape.members.get(name) if shape is not None else None
        if member is None:
            continue
        meta = member.metadata
        if member.type_name in _INT_BOUNDS and isinstance(value, int) and not isinstance(value, bool):
            low, high = _INT_BOUNDS[member.type_name]
            low, high = max(low, meta.get("min", low)), min(high, meta.get("max", high))
            if not low <= value <= high:
                raise InvalidParameterException(
                    f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy constraint: "
                    f"Member must have value between {low} and {high}."
                )
        elif member.type_name in ("string", "list") and isinstance(value, (str, list)) and "max" in meta:
            if len(value) > meta["max"]:
                raise InvalidParameterException(
                    f"1 validation error detected: Value at '{name}' (length {len(value)}) failed to satisfy "
                    f"constraint: Member must have length less than or equal to {meta['max']}."
                )


class UnknownOperationException(EngineError):
    status_code = 400
    error_type = "UnknownOperationException"


async def _dispatch(request: Request) -> Response:
    engine = request.app.state.engine
    target = request.headers.get("x-amz-target", "")
    service, _, operation = target.partition(".")
    handler = OPERATIONS.get(operation) if service + "." == TARGET_PREFIX else None
    if handler is None:

        def unknown():
            if not target:
                raise UnknownOperationException(
                    "Missing X-Amz-Target header: POST / is the CloudWatch Logs API."
                )
            raise UnknownOperationException(
                f"Unsupported operation {target!r}; the local engine serves "
                + ", ".join(TARGET_PREFIX + name for name in OPERATIONS)
                + "."
            )

        return await aws_call(request, "logs", operation or "Unknown", unknown, content_type=CONTENT_TYPE)

    async def call():
        params = validate_input("logs", operation, await read_json(request), error=InvalidParameterException)
        check_bounds(operation, params)
        return handler(engine, params)

    return await aws_call(request, "logs", operation, call, content_type=CONTENT_TYPE)


def cloudwatch_logs_routes() -> list[Route]:
    return [Route("/", _dispatch, methods=["POST"])]
