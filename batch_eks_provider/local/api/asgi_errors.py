"""Answer an :class:`~batch_eks_provider.local.errors.EngineError` from ASGI middleware, before any route runs.

Routes answer through :mod:`.wire`; the middlewares (:mod:`.browser_guard`, :mod:`.auth`) run outside the
Starlette app, so they send the same AWS-style error (``x-amzn-ErrorType`` and ``{"__type", "message"}``)
with :func:`send_error`; ``payload`` replaces the body where another protocol's shape is due (a Kubernetes
``Status``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Callable

from ..errors import EngineError

__all__ = ["send_error"]


async def send_error(send: Callable, error: EngineError, payload: dict[str, Any] | None = None) -> None:
    body = json.dumps(payload if payload is not None else {"__type": error.error_type, "message": error.message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-amzn-errortype", error.error_type.encode()),
                (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
