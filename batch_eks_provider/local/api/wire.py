"""Wire helpers shared by the AWS protocol routes: JSON bodies, AWS-style errors, fault injection."""

from __future__ import annotations

import json
import uuid
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import ClientException, EngineError, ServerException

__all__ = ["read_json", "error_response", "json_response", "aws_call"]

MAX_BODY_BYTES = 1024 * 1024


async def read_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ClientException(f"Request body of {len(body)} bytes is larger than the {MAX_BODY_BYTES} bytes allowed.")
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except ValueError as e:
        raise ClientException(f"Request body is not valid JSON: {e}.") from None
    if not isinstance(data, dict):
        raise ClientException("Request body must be a JSON object.")
    return data


def json_response(body: Any, status: int = 200, content_type: str = "application/json") -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=content_type,
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )


def error_response(error: EngineError, content_type: str = "application/json") -> Response:
    body = {"__type": error.error_type, "message": error.message}
    return Response(
        json.dumps(body),
        status_code=error.status_code,
        media_type=content_type,
        headers={"x-amzn-ErrorType": error.error_type, "x-amzn-RequestId": str(uuid.uuid4())},
    )


async def aws_call(
    request: Request,
    service: str,
    operation: str,
    handler: Callable[[], Awaitable[Any] | Any],
    content_type: str = "application/json",
) -> Response:
    """Run one AWS operation: fault injection, the handler, persistence, metrics, wire errors."""
    engine = request.app.state.engine
    try:
        engine.maybe_inject_fault()
        result = handler()
        if hasattr(result, "__await__"):
            result = await result
        engine.state.flush()
        engine.metrics.api_request(service, operation, "ok")
        return json_response(result, content_type=content_type)
    except EngineError as e:
        engine.state.flush()
        engine.metrics.api_request(service, operation, e.error_type)
        return error_response(e, content_type)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        engine.metrics.api_request(service, operation, "ClientException")
        return error_response(ClientException(f"Malformed {operation} request: {type(e).__name__}: {e}"), content_type)
    except Exception as e:  # noqa: BLE001 - a bug must answer 500, not drop the connection
        engine.metrics.api_request(service, operation, "ServerException")
        return error_response(ServerException(f"Internal error in {operation}: {type(e).__name__}: {e}"), content_type)
