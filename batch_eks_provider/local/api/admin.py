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
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import ClientException, EngineError
from ..store.models import JobStatus
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
_CE_FIELD = "compute_environment"


def _checked_rate(key: str, value: object) -> float:
    limit = 60.0 if key == "spot_interruption_rate" else 1.0
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rate = -1.0
    if not 0.0 <= rate <= limit:
        unit = "interruptions per Spot node per minute" if key == "spot_interruption_rate" else "per request"
        raise ClientException(f"Invalid {key} {value!r}: must be a number between 0 and {limit:g} ({unit}).")
    return rate


def _fault_settings(engine) -> dict:
    settings = {key: getattr(engine.config, key) for key in _FAULT_FIELDS}
    settings["compute_environments"] = {
        ce.name: ce.spot_interruption_rate
        for ce in engine.state.compute_environments.values()
        if ce.spot_interruption_rate
    }
    return settings


async def _faults(request: Request) -> Response:
    engine = request.app.state.engine
    try:
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
                if set(rates) != {"spot_interruption_rate"}:
                    raise ClientException(
                        f"{_CE_FIELD} {ce_name!r} goes with spot_interruption_rate alone "
                        "(throttling and server errors are engine-wide)."
                    )
                if engine.state.find_compute_environment(str(ce_name)) is None:
                    raise ClientException(f"Compute environment {ce_name!r} does not exist.")
                engine.set_spot_interruption_rate(rates["spot_interruption_rate"], str(ce_name))
            else:
                for key, rate in rates.items():
                    setattr(engine.config, key, rate)
                engine.scheduler.wake()
            engine.state.flush()
        return JSONResponse(_fault_settings(engine))
    except EngineError as e:
        return error_response(e)


async def _set_cluster(request: Request) -> Response:
    engine = request.app.state.engine
    name = request.path_params["name"]
    try:
        params = await read_json(request)
        unknown = [key for key in params if key != "version"]
        if unknown or "version" not in params:
            raise ClientException(f"POST /_local/clusters/{name} takes {{\"version\": \"1.xx\"}}; got {sorted(params)}.")
        version = params["version"]
        if not isinstance(version, str) or not re.fullmatch(r"1\.\d{1,2}", version):
            raise ClientException(f"Invalid version {version!r}: a Kubernetes minor version such as \"1.30\".")
        engine.set_eks_cluster_version(name, version)
        cluster = engine.state.eks_cluster(name)
        return JSONResponse({"name": cluster.name, "arn": cluster.arn, "version": cluster.version})
    except EngineError as e:
        return error_response(e)


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
