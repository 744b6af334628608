"""The engine's Starlette application: every protocol on one port.

============================================  ==================================================
``POST /v1/<operation>``                      AWS Batch (rest-json), :mod:`.batch`
``GET /clusters``, ``GET /clusters/{name}``   Amazon EKS ListClusters / DescribeCluster, :mod:`.eks`
``POST /`` + ``X-Amz-Target: Logs_20140328.*`` CloudWatch Logs (awsJson1_1), :mod:`.cloudwatch_logs`
``/version``, ``/api``, ``/api/v1/...``       Kubernetes core/v1 subset, :mod:`.kubernetes`
``GET /metrics``                              Prometheus metrics
``GET /``, ``/_local/ui/...``                 the read-only web page, :mod:`.web`
``/_local/...``                               admin: fault injection, test clock, :mod:`.admin`
============================================  ==================================================
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..engine import Engine
from .admin import admin_routes
from .batch import batch_routes
from .cloudwatch_logs import cloudwatch_logs_routes
from .eks import eks_routes
from .kubernetes import kubernetes_routes
from .web import web_routes

__all__ = ["build_app"]


async def _metrics(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    return Response(engine.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


def _load_models() -> None:
    from .input_shapes import service_model

    service_model("batch")


def _lifespan(engine: Engine):
    @contextlib.asynccontextmanager
    async def lifespan(app):
        await engine.start()
        # botocore's models (input validation) load in a thread, so /version answers before they are in
        warm = asyncio.get_running_loop().run_in_executor(None, _load_models)
        try:
            yield
        finally:
            await asyncio.wait([warm], timeout=10)
            await engine.stop()

    return lifespan


def build_app(engine: Engine) -> Starlette:
    app = Starlette(
        routes=[
            *batch_routes(),
            *eks_routes(),
            *cloudwatch_logs_routes(),  # POST /
            *web_routes(),  # GET /
            *kubernetes_routes(),
            *admin_routes(),
            Route("/metrics", _metrics, methods=["GET"]),
        ],
        lifespan=_lifespan(engine),
    )
    app.state.engine = engine
    return app
