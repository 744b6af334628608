"""Wire helpers shared by the AWS protocol routes: bodies, JSON, AWS-style errors, fault injection.

Every AWS route answers through :func:`aws_call`, so a bad body (too large, not JSON, not an object)
or a bug in a handler always becomes an AWS-style error response and the engine keeps serving.

A malformed request is the client's error only when the engine says so (a typed :class:`EngineError`,
raised by the input-shape check or a service rule before anything changes). Any other exception is an
engine bug: it answers 500 ``ServerException``, is logged with its traceback, and what the handler had
changed is not written to the store by this request.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from ..errors import ClientException, EngineError, ServerException

__all__ = ["read_body", "read_json", "error_response", "json_response", "aws_call", "too_deep", "MAX_BODY_BYTES", "MAX_JSON_DEPTH"]

MAX_BODY_BYTES = 1024 * 1024
# No request of the served APIs nests deeper than about 12 levels; deeper bodies are refused before any
# recursive code (null removal, shape validation, copies) walks them.
MAX_JSON_DEPTH = 64
# A refused body is still read (and dropped) up to this size, so that the client, still sending, gets the
# error response instead of a reset connection; beyond it the connection is simply closed.
_DRAIN_BYTES = 16 * 1024 * 1024
_log = logging.getLogger(__name__)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, read at most ``limit`` bytes far: a larger body is refused without buffering it."""
    cached = getattr(request, "_body", None)
    if cached is not None:
        return cached
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        if int(declared) <= _DRAIN_BYTES:
            await _drain(request)
        raise ClientException(f"Request body of {declared} bytes is larger than the {limit} bytes allowed.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            await _drain(request, size)
            raise ClientException(f"Request body is larger than the {limit} bytes allowed.")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # lets request.body() and later readers see it
    return body


async def _drain(request: Request, already: int = 0) -> None:
    """Read and drop the rest of a refused body, at most ``_DRAIN_BYTES`` in all."""
    size = already
    async for chunk in request.stream():
        size += len(chunk)
        if size > _DRAIN_BYTES:
            return


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``."""
    body = await read_body(request)
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise ClientException("Request body is not valid JSON: it is not UTF-8 text.") from None
    except RecursionError:
        raise ClientException(
            f"Request body is not valid JSON for this service: it is nested more than {MAX_JSON_DEPTH} levels deep."
        ) from None
    except ValueError as e:
        raise ClientException(f"Request body is not valid JSON: {e}.") from None
    if not isinstance(data, dict):
        raise ClientException(f"Request body must be a JSON object, not {type(data).__name__}.")
    deep = too_deep(data)
    if deep is not None:
        raise ClientException(
            f"Invalid parameter {deep}: it is nested more than {MAX_JSON_DEPTH} levels deep "
            f"(at most {MAX_JSON_DEPTH} levels of objects and lists are allowed)."
        )
    return data


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> str | None:
    """The path (``a.b[0]``) of the first member nested deeper than ``limit`` levels, or None; iterative, so any
    depth the parser produced is walked without recursion."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if depth > limit:
            return path.split(".", 1)[0].split("[", 1)[0] or "the request"
        if isinstance(node, dict):
            stack.extend((v, depth + 1, f"{path}.{k}" if path else str(k)) for k, v in node.items() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth + 1, f"{path}[{i}]") for i, v in enumerate(node) if isinstance(v, (dict, list)))
    return None


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
    except Exception as e:  # noqa: BLE001 - a bug must answer 500, not drop the connection
        _log.exception("%s %s failed inside the engine", service, operation)
        engine.metrics.api_request(service, operation, "ServerException")
        return error_response(ServerException(f"Internal error in {operation}: {type(e).__name__}: {e}"), content_type)
