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

__all__ = ["cloudwatch_logs_routes", "TARGET_PREFIX", "CONTENT_TYPE"]

TARGET_PREFIX = "Logs_20140328."
CONTENT_TYPE = "application/x-amz-json-1.1"

OPERATIONS: dict[str, Callable[[Any, dict[str, Any]], dict[str, Any]]] = {
    "DescribeLogGroups": cloudwatch.describe_log_groups,
    "DescribeLogStreams": cloudwatch.describe_log_streams,
    "GetLogEvents": cloudwatch.get_log_events,
    "FilterLogEvents": cloudwatch.filter_log_events,
}


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
        return handler(engine, params)

    return await aws_call(request, "logs", operation, call, content_type=CONTENT_TYPE)


def cloudwatch_logs_routes() -> list[Route]:
    return [Route("/", _dispatch, methods=["POST"])]
