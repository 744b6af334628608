"""The engine's Starlette application: every protocol on one port."""

from __future__ import annotations

import contextlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..engine import Engine
from .admin import admin_routes
from .batch import batch_routes

__all__ = ["build_app"]

KUBERNETES_VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0-batch-eks-local",
    "platform": "linux/amd64",
}


async def _version(request: Request) -> Response:
    return JSONResponse(KUBERNETES_VERSION)


async def _metrics(request: Request) -> Response:
    engine: Engine = request.app.state.engine
    return Response(engine.metrics.render(), media_type="text/plain; version=0.0.4")


def _lifespan(engine: Engine):
    @contextlib.asynccontextmanager
    async def lifespan(app):
        await engine.start()
        try:
            yield
        finally:
            await engine.stop()

    return lifespan


def build_app(engine: Engine) -> Starlette:
    app = Starlette(
        routes=[
            *batch_routes(),
            *admin_routes(),
            Route("/version", _version, methods=["GET"]),
            Route("/metrics", _metrics, methods=["GET"]),
        ],
        lifespan=_lifespan(engine),
    )
    app.state.engine = engine
    return app
