"""Admin routes of the local engine (not part of any AWS API): fault injection and the test clock.

- ``POST /_local/reclaim`` ``{"jobId": ...}``: reclaim the node under a running job, as a Spot interruption.
- ``POST /_local/clock/advance`` ``{"seconds": ...}``: move a manual clock (engines started with one).
- ``GET|POST /_local/faults``: read or set ``throttle_rate``, ``server_error_rate`` (0..1, per AWS API request)
  and ``spot_interruption_rate`` (0..60, per Spot node per minute). With ``"compute_environment": NAME`` the
  Spot rate applies to that compute environment only (``{"spot_interruption_rate": 2, "compute_environment":
  "doeks-CE1_SPOT"}``); the answer lists such rates under ``compute_environments``.
- ``POST /_local/clusters/{name}`` ``{"version": "1.22"}``: set an EKS cluster's Kubernetes version (EKS
  DescribeCluster and node kubelets report it; compute environments on it are checked again on their next
  UpdateComputeEnvironment, and go INVALID on an unsupported version).
- ``GET /_local/health``: ``{"status": "ok"}``.

Every route answers a refused request with a 400 ``{"__type": "ClientException", "message": ...}`` naming the
field, whatever JSON type the field holds; a bug answers a JSON 500 ``ServerException``, never a plain-text page.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import ClientException, EngineError, ServerException
from ..store.models import JobStatus
from .wire import error_response, read_json

__all__ = ["admin_routes"]

_log = logging.getLogger(__name__)


def _json_errors(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Typed errors answer their JSON error; anything else is an engine bug: logged, a JSON 500."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except EngineError as e:
            return error_response(e)
        except Exception as e:  # noqa: BLE001 - a bug must answer JSON, not a plain-text traceback
            _log.exception("admin route %s failed inside the engine", request.url.path)
            return error_response(ServerException(f"Internal error in {request.url.path}: {type(e).__name__}"))

    return wrapped


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:80]}... ({len(text)} characters)"


def _string_field(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise ClientException(f"Invalid {key} {_shown(value)}: must be a non-empty string.")
    return value


def _number_field(params: dict[str, Any], key: str, default: float | None = None) -> float:
    """A finite JSON number (not a boolean, not a string)."""
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ClientException(f"Invalid {key} {_shown(value)}: must be a number.")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ClientException(f"Invalid {key} {_shown(value)}: must be a finite number.")
    return number


@_json_errors
async def _reclaim(request: Request) -> Response:
    engine = request.app.state.engine
    params = await read_json(request)
    job_id = _string_field(params, "jobId")
    job = engine.state.jobs.get(job_id)
    if job is None:
        raise ClientException(f"Invalid jobId {job_id!r}: job does not exist.")
    if job.status not in (JobStatus.STARTING, JobStatus.RUNNING) or not job.node_name:
        raise ClientException(f"Job {job_id} is {job.status}; only a STARTING or RUNNING job has a node to reclaim.")
    node = engine.state.nodes.get(job.node_name)
    if node is None:
        raise ClientException(f"Node {job.node_name} of job {job_id} is already gone.")
    pods = engine.scheduler.reclaim_node(node)
    engine.state.flush()
    return JSONResponse({"nodeName": node.name, "instanceId": node.instance_id, "pods": pods})


@_json_errors
async def _advance_clock(request: Request) -> Response:
    engine = request.app.state.engine
    params = await read_json(request)
    seconds = _number_field(params, "seconds", 0)
    if seconds < 0:
        raise ClientException(f"Invalid seconds {seconds!r}: time only moves forward.")
    if not engine.clock.is_manual:
        raise ClientException(
            f"Cannot advance seconds {seconds!r}: this engine runs on the system clock; start it with a ManualClock to move time."
        )
    now = engine.clock.advance(seconds)
    engine.scheduler.wake()
    return JSONResponse({"now": now})


_FAULT_FIELDS = ("throttle_rate", "server_error_rate", "spot_interruption_rate")
_CE_FIELD = "compute_environment"


def _checked_rate(key: str, value: object) -> float:
    limit = 60.0 if key == "spot_interruption_rate" else 1.0
    try:
        rate = _number_field({key: value}, key)
    except ClientException:
        rate = -1.0
    if not 0.0 <= rate <= limit:
        unit = "interruptions per Spot node per minute" if key == "spot_interruption_rate" else "per request"
        raise ClientException(f"Invalid {key} {_shown(value)}: must be a number between 0 and {limit:g} ({unit}).")
    return rate


def _fault_settings(engine) -> dict:
    settings = {key: getattr(engine.config, key) for key in _FAULT_FIELDS}
    settings["compute_environments"] = {
        ce.name: ce.spot_interruption_rate
        for ce in engine.state.compute_environments.values()
        if ce.spot_interruption_rate
    }
    return settings


@_json_errors
async def _faults(request: Request) -> Response:
    engine = request.app.state.engine
    if request.method == "POST":
        params = await read_json(request)
        unknown = [key for key in params if key not in (*_FAULT_FIELDS, _CE_FIELD)]
        if unknown:
            raise ClientException(
                f"Unknown fault setting {unknown[0]!r}; choose from {', '.join((*_FAULT_FIELDS, _CE_FIELD))}."
            )
        rates = {key: _checked_rate(key, params[key]) for key in _FAULT_FIELDS if key in params}
        ce_name = params.get(_CE_FIELD)
        if ce_name is not None:
            ce_name = _string_field(params, _CE_FIELD)
            if set(rates) != {"spot_interruption_rate"}:
                raise ClientException(
                    f"{_CE_FIELD} {ce_name!r} goes with spot_interruption_rate alone "
                    "(throttling and server errors are engine-wide)."
                )
            if engine.state.find_compute_environment(str(ce_name)) is None:
                raise ClientException(f"Invalid {_CE_FIELD} {ce_name!r}: compute environment does not exist.")
            engine.set_spot_interruption_rate(rates["spot_interruption_rate"], str(ce_name))
        else:
            for key, rate in rates.items():
                setattr(engine.config, key, rate)
            engine.scheduler.wake()
        engine.state.flush()
    return JSONResponse(_fault_settings(engine))


@_json_errors
async def _set_cluster(request: Request) -> Response:
    engine = request.app.state.engine
    name = request.path_params["name"]
    params = await read_json(request)
    unknown = [key for key in params if key != "version"]
    if unknown or "version" not in params:
        raise ClientException(f"POST /_local/clusters/{name} takes {{\"version\": \"1.xx\"}}; got {sorted(params)}.")
    version = params["version"]
    if not isinstance(version, str) or not re.fullmatch(r"1\.\d{1,2}", version):
        raise ClientException(f"Invalid version {_shown(version)}: a Kubernetes minor version such as \"1.30\".")
    engine.set_eks_cluster_version(name, version)
    cluster = engine.state.eks_cluster(name)
    return JSONResponse({"name": cluster.name, "arn": cluster.arn, "version": cluster.version})


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def admin_routes() -> list[Route]:
    return [
        Route("/_local/reclaim", _reclaim, methods=["POST"]),
        Route("/_local/clock/advance", _advance_clock, methods=["POST"]),
        Route("/_local/faults", _faults, methods=["GET", "POST"]),
        Route("/_local/clusters/{name}", _set_cluster, methods=["POST"]),
        Route("/_local/health", _health, methods=["GET"]),
    ]
