"""``watch=true`` on the Kubernetes list routes: a stream of ``{"type", "object"}`` lines.

As the API server does: without ``resourceVersion`` (or with ``"0"``) every object that matches first arrives
as ``ADDED``; then each change is ``MODIFIED`` and each object that goes away (or stops matching) is
``DELETED``. The stream ends after ``timeoutSeconds`` (default 30 minutes); the ``kubernetes`` client's
``Watch`` then reconnects with the last ``resourceVersion`` it saw.

The engine has no change log, so a watch compares the state it sees every :data:`POLL_SECONDS` with the
previous look (on the event loop, without blocking it): changes between two looks that cancel out are not seen.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator, Callable, Hashable

from starlette.requests import Request
from starlette.responses import StreamingResponse

__all__ = ["watch_response", "POLL_SECONDS", "DEFAULT_TIMEOUT_SECONDS"]

POLL_SECONDS = 0.2
DEFAULT_TIMEOUT_SECONDS = 1800
MAX_TIMEOUT_SECONDS = 3600

# name -> (fingerprint that changes when the object does, function that renders the object)
Snapshot = dict[str, tuple[Hashable, Callable[[], dict[str, Any]]]]


def _line(kind: str, obj: dict[str, Any]) -> bytes:
    return (json.dumps({"type": kind, "object": obj}, separators=(",", ":")) + "\n").encode()


async def _events(
    snapshot: Callable[[], Snapshot], timeout: float, send_initial: bool
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    known: dict[str, Hashable] = {}
    rendered: dict[str, dict[str, Any]] = {}
    first = True
    while True:
        current = snapshot()
        for name, (fingerprint, render) in current.items():
            if name not in known:
                rendered[name] = render()
                if send_initial or not first:
                    yield _line("ADDED", rendered[name])
            elif known[name] != fingerprint:
                rendered[name] = render()
                yield _line("MODIFIED", rendered[name])
        for name in [n for n in known if n not in current]:
            yield _line("DELETED", rendered.pop(name))
        known = {name: fingerprint for name, (fingerprint, _) in current.items()}
        first = False
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        await asyncio.sleep(min(POLL_SECONDS, remaining))


def watch_response(request: Request, snapshot: Callable[[], Snapshot]) -> StreamingResponse:
    """Stream watch events for the objects ``snapshot()`` returns each time it is called."""
    raw = request.query_params.get("timeoutSeconds")
    try:
        timeout = min(int(raw), MAX_TIMEOUT_SECONDS) if raw else DEFAULT_TIMEOUT_SECONDS
    except ValueError:
        timeout = DEFAULT_TIMEOUT_SECONDS
    resource_version = request.query_params.get("resourceVersion")
    send_initial = resource_version in (None, "", "0")
    return StreamingResponse(_events(snapshot, max(timeout, 0), send_initial), media_type="application/json")
