"""``watch=true`` on the Kubernetes list routes: a stream of ``{"type", "object"}`` lines.

As the API server does: without ``resourceVersion`` (or with ``"0"``) every object that matches first arrives
as ``ADDED``; then each change is ``MODIFIED`` and each object that goes away (or stops matching) is
``DELETED``. The stream ends after ``timeoutSeconds`` (default 30 minutes); the ``kubernetes`` client's
``Watch`` then reconnects with the last ``resourceVersion`` it saw.

An object that appears while the watch runs is reported through the states ``arrival`` gives (a pod the
engine creates and starts in one step arrives as Pending, ContainerCreating, then its current state, as a
kubelet reports them); one that goes away through the states ``departure`` gives (a pod: Terminating, then
DELETED). With ``Accept: ...;as=Table;g=meta.k8s.io`` each event carries a Table of one row
(:mod:`.kubernetes_tables`).

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
# an object -> what one event carries (the object itself, or a Table of one row)
Encode = Callable[[dict[str, Any]], dict[str, Any]]
# an object that just appeared -> the states to report for it (the first ADDED, the others MODIFIED)
Arrival = Callable[[dict[str, Any]], list[dict[str, Any]]]
# an object that went away -> the states to report (the last DELETED, the others MODIFIED)
Departure = Callable[[dict[str, Any]], list[dict[str, Any]]]


def _line(kind: str, obj: dict[str, Any]) -> bytes:
    return (json.dumps({"type": kind, "object": obj}, separators=(",", ":")) + "\n").encode()


def _same(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [obj]


async def _events(
    snapshot: Callable[[], Snapshot],
    timeout: float,
    send_initial: bool,
    encode: Encode,
    arrival: Arrival,
    departure: Departure,
    created_after: Callable[[str], bool],
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
                if send_initial and first:
                    yield _line("ADDED", encode(rendered[name]))
                elif not first or created_after(name):
                    for i, state in enumerate(arrival(rendered[name])):
                        yield _line("MODIFIED" if i else "ADDED", encode(state))
            elif known[name] != fingerprint:
                rendered[name] = render()
                yield _line("MODIFIED", encode(rendered[name]))
        for name in [n for n in known if n not in current]:
            states = departure(rendered.pop(name))
            for i, state in enumerate(states):
                yield _line("DELETED" if i == len(states) - 1 else "MODIFIED", encode(state))
        known = {name: fingerprint for name, (fingerprint, _) in current.items()}
        first = False
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        await asyncio.sleep(min(POLL_SECONDS, remaining))


def watch_response(
    request: Request,
    snapshot: Callable[[], Snapshot],
    encode: Encode | None = None,
    arrival: Arrival | None = None,
    departure: Departure | None = None,
    created_ms: Callable[[str], float] | None = None,
) -> StreamingResponse:
    """Stream watch events for the objects ``snapshot()`` returns each time it is called; ``encode`` turns
    an object into what its event carries, ``arrival``/``departure`` give the states an object passes
    through as it appears and goes (default: the object alone). ``created_ms(name)``: when an object was
    made (engine clock, ms), so that a watch from a list's ``resourceVersion`` (the engine clock's ms
    then) reports the objects made between the list and the watch, as the API server does."""
    raw = request.query_params.get("timeoutSeconds")
    try:
        timeout = min(int(raw), MAX_TIMEOUT_SECONDS) if raw else DEFAULT_TIMEOUT_SECONDS
    except ValueError:
        timeout = DEFAULT_TIMEOUT_SECONDS
    resource_version = request.query_params.get("resourceVersion")
    send_initial = resource_version in (None, "", "0")
    since = int(resource_version) if not send_initial and resource_version.isdigit() else None

    def created_after(name: str) -> bool:
        return since is not None and created_ms is not None and created_ms(name) > since

    events = _events(
        snapshot, max(timeout, 0), send_initial, encode or (lambda o: o), arrival or _same, departure or _same,
        created_after,
    )
    return StreamingResponse(events, media_type="application/json")
