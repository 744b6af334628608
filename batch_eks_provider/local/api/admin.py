"""Admin routes of the local engine (not part of any AWS API): fault injection and the test clock.

- ``POST /_local/reclaim`` ``{"jobId": ...}``: reclaim the node under a running job, as a Spot interruption.
- ``POST /_local/clock/advance`` ``{"seconds": ...}``: move a manual clock (engines started with one).
- ``GET|POST /_local/faults``: read or set ``throttle_rate``, ``server_error_rate`` (0..1, per AWS API request),
  ``spot_interruption_rate`` (0..60, per Spot node per minute), ``pod_start_delay_seconds`` (0..86400 on the
  engine's clock: placed pods stay Pending/ContainerCreating, their jobs STARTING) and ``insufficient_capacity``
  (a list of ``{"instance_type": ..., "compute_environment": ...}``, either or both: instances that cannot be
  launched; the list replaces the one in force, ``[]`` removes them). With ``"compute_environment": NAME`` the
  Spot rate and the pod start delay apply to that compute environment only (``{"spot_interruption_rate": 2,
  "compute_environment": "doeks-CE1_SPOT"}``); the answer lists Spot rates under ``compute_environments`` and
  start delays under ``pod_start_delays``. See :mod:`..scheduling.faults`.
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
from ..instance_types import INSTANCE_TYPES
from ..scheduling.faults import CapacityFault
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
_DELAY_FIELD = "pod_start_delay_seconds"
_CAPACITY_FIELD = "insufficient_capacity"
_CE_FIELD = "compute_environment"
_TYPE_FIELD = "instance_type"
_SETTINGS = (*_FAULT_FIELDS, _DELAY_FIELD, _CAPACITY_FIELD, _CE_FIELD)
_MAX_DELAY_SECONDS = 86400.0


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


def _checked_delay(value: object) -> float:
    try:
        seconds = _number_field({_DELAY_FIELD: value}, _DELAY_FIELD)
    except ClientException:
        seconds = -1.0
    if not 0.0 <= seconds <= _MAX_DELAY_SECONDS:
        raise ClientException(
            f"Invalid {_DELAY_FIELD} {_shown(value)}: must be a number of seconds between 0 and {_MAX_DELAY_SECONDS:g}."
        )
    return seconds


def _compute_environment_name(engine, params: dict[str, Any], key: str) -> str:
    """The name of the compute environment ``params[key]`` names (by name or ARN); it must exist."""
    value = _string_field(params, key)
    ce = engine.state.find_compute_environment(value)
    if ce is None:
        raise ClientException(f"Invalid {key} {value!r}: compute environment does not exist.")
    return ce.name


def _capacity_faults(engine, value: object) -> list[CapacityFault]:
    """``insufficient_capacity``: a list of ``{"instance_type": ..., "compute_environment": ...}``."""
    if not isinstance(value, list):
        raise ClientException(
            f"Invalid {_CAPACITY_FIELD} {_shown(value)}: must be a list of "
            f'{{"{_TYPE_FIELD}": ..., "{_CE_FIELD}": ...}} objects ([] removes every such fault).'
        )
    faults = []
    for i, entry in enumerate(value):
        where = f"{_CAPACITY_FIELD}[{i}]"
        if not isinstance(entry, dict) or not entry or set(entry) - {_TYPE_FIELD, _CE_FIELD}:
            raise ClientException(
                f"Invalid {where} {_shown(entry)}: must be an object with {_TYPE_FIELD!r}, {_CE_FIELD!r} or both."
            )
        itype = None
        if _TYPE_FIELD in entry:
            itype = _string_field(entry, _TYPE_FIELD)
            if itype not in INSTANCE_TYPES:
                raise ClientException(f"Invalid {where}.{_TYPE_FIELD} {itype!r}: not an instance type the engine launches (e.g. 'm5.large').")
        ce_name = _compute_environment_name(engine, entry, _CE_FIELD) if _CE_FIELD in entry else None
        faults.append(CapacityFault(instance_type=itype, compute_environment=ce_name))
    return faults


def _fault_settings(engine) -> dict:
    settings: dict[str, Any] = {key: getattr(engine.config, key) for key in _FAULT_FIELDS}
    settings["compute_environments"] = {
        ce.name: ce.spot_interruption_rate
        for ce in engine.state.compute_environments.values()
        if ce.spot_interruption_rate
    }
    scheduler = engine.scheduler
    settings[_DELAY_FIELD] = scheduler.pod_start_delays.default
    settings["pod_start_delays"] = dict(scheduler.pod_start_delays.by_ce)
    settings[_CAPACITY_FIELD] = scheduler.capacity_faults.as_list()
    return settings


@_json_errors
async def _faults(request: Request) -> Response:
    engine = request.app.state.engine
    if request.method == "POST":
        params = await read_json(request)
        unknown = [key for key in params if key not in _SETTINGS]
        if unknown:
            raise ClientException(f"Unknown fault setting {unknown[0]!r}; choose from {', '.join(_SETTINGS)}.")
        # everything is checked before anything is applied: a refused request changes nothing
        rates = {key: _checked_rate(key, params[key]) for key in _FAULT_FIELDS if key in params}
        delay = _checked_delay(params[_DELAY_FIELD]) if _DELAY_FIELD in params else None
        capacity = _capacity_faults(engine, params[_CAPACITY_FIELD]) if _CAPACITY_FIELD in params else None
        ce_name = None
        if params.get(_CE_FIELD) is not None:
            ce_name = _string_field(params, _CE_FIELD)
            if set(rates) - {"spot_interruption_rate"} or (not rates and delay is None):
                raise ClientException(
                    f"{_CE_FIELD} {ce_name!r} goes with spot_interruption_rate or {_DELAY_FIELD} "
                    "(throttling and server errors are engine-wide)."
                )
            ce_name = _compute_environment_name(engine, params, _CE_FIELD)
        scheduler = engine.scheduler
        if ce_name is not None and "spot_interruption_rate" in rates:
            engine.set_spot_interruption_rate(rates["spot_interruption_rate"], ce_name)
        elif ce_name is None:
            for key, rate in rates.items():
                setattr(engine.config, key, rate)
        if delay is not None:
            scheduler.set_pod_start_delay(delay, ce_name)
        if capacity is not None:
            scheduler.set_insufficient_capacity(capacity)
        scheduler.wake()
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
