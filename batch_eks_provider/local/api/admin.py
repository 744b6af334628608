"""Admin routes of the local engine (not part of any AWS API): fault injection and the test clock.

- ``POST /_local/reclaim`` ``{"jobId": ...}``: reclaim the node under a running job, as a Spot interruption.
- ``POST /_local/clock/advance`` ``{"seconds": ...}``: move a manual clock (engines started with one).
- ``GET|POST /_local/faults``: read or set ``throttle_rate``, ``server_error_rate``, ``spot_interruption_rate``.
- ``GET /_local/health``: ``{"status": "ok"}``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import ClientException, EngineError
from ..models import JobStatus
from .wire import error_response, read_json

__all__ = ["admin_routes"]


async def _reclaim(request: Request) -> Response:
    engine = request.app.state.engine
    try:
        params = await read_json(request)
        job_id = params.get("jobId")
        job = engine.state.jobs.get(job_id or "")
        if job is None:
            raise ClientException(f"Job {job_id!r} does not exist.")
        if job.status not in (JobStatus.STARTING, JobStatus.RUNNING) or not job.node_name:
            raise ClientException(f"Job {job_id} is {job.status}; only a STARTING or RUNNING job has a node to reclaim.")
        node = engine.state.nodes.get(job.node_name)
        if node is None:
            raise ClientException(f"Node {job.node_name} of job {job_id} is already gone.")
        pods = engine.scheduler.reclaim_node(node)
        engine.state.flush()
        return JSONResponse({"nodeName": node.name, "instanceId": node.instance_id, "pods": pods})
    except EngineError as e:
        return error_response(e)


async def _advance_clock(request: Request) -> Response:
    engine = request.app.state.engine
    try:
        params = await read_json(request)
        if not engine.clock.is_manual:
            raise ClientException("This engine runs on the system clock; start it with a ManualClock to move time.")
        seconds = float(params.get("seconds", 0))
        if seconds < 0:
            raise ClientException(f"Invalid seconds {seconds!r}: time only moves forward.")
        now = engine.clock.advance(seconds)
        engine.scheduler.wake()
        return JSONResponse({"now": now})
    except EngineError as e:
        return error_response(e)


_FAULT_FIELDS = ("throttle_rate", "server_error_rate", "spot_interruption_rate")


async def _faults(request: Request) -> Response:
    engine = request.app.state.engine
    try:
        if request.method == "POST":
            params = await read_json(request)
            for key, value in params.items():
                if key not in _FAULT_FIELDS:
                    raise ClientException(f"Unknown fault setting {key!r}; choose from {', '.join(_FAULT_FIELDS)}.")
                rate = float(value)
                if not 0.0 <= rate <= (1.0 if key != "spot_interruption_rate" else 60.0):
                    raise ClientException(f"Invalid {key} {value!r}: must be between 0 and 1 (per request) or per minute for Spot.")
                setattr(engine.config, key, rate)
        return JSONResponse({key: getattr(engine.config, key) for key in _FAULT_FIELDS})
    except EngineError as e:
        return error_response(e)


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def admin_routes() -> list[Route]:
    return [
        Route("/_local/reclaim", _reclaim, methods=["POST"]),
        Route("/_local/clock/advance", _advance_clock, methods=["POST"]),
        Route("/_local/faults", _faults, methods=["GET", "POST"]),
        Route("/_local/health", _health, methods=["GET"]),
    ]
