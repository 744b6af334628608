"""Serve an engine over HTTP: in a background thread (tests, the demo) or in the foreground (the CLI)."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import uvicorn

from .api.app import build_app
from .api.browser_guard import BrowserGuard
from .clock import Clock
from .engine import Engine
from .store.state import EngineConfig

if TYPE_CHECKING:
    from .api.auth import EngineCredentials

__all__ = ["LocalEngine", "is_loopback", "EngineStartError", "build_served_app"]


class EngineStartError(RuntimeError):
    """The engine's server did not come up."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def build_served_app(
    engine: Engine, credentials: EngineCredentials | None = None, allowed_hosts: Iterable[str] = ()
):
    """The ASGI app to serve: the engine's app behind the browser guard (always) and SigV4 verification
    (when ``credentials`` are given). ``allowed_hosts``: names besides IP addresses and ``localhost`` that
    a request's ``Host`` may carry (see :mod:`.api.browser_guard`)."""
    app = build_app(engine)
    if credentials is not None:
        from .api.auth import SigV4Middleware, SigV4Verifier

        def cluster_names() -> set[str]:
            return {ce.cluster_arn.rsplit("/", 1)[-1] for ce in engine.state.compute_environments.values()}

        app = SigV4Middleware(app, SigV4Verifier(credentials, cluster_names))
    return BrowserGuard(app, allowed_hosts)


class LocalEngine:
    """An engine served on loopback from a background thread.

    Use it as a context manager::

        with LocalEngine() as engine:
            boto3.client("batch", endpoint_url=engine.url, ...)

    ``port=0`` picks a free port. ``clock`` may be a :class:`~batch_eks_provider.local.clock.ManualClock`
    for tests that move time by hand. ``credentials`` turns on SigV4 verification (as
    ``batch-eks local serve --allow-remote`` does) while still binding to loopback. ``allowed_hosts``:
    more names a request's ``Host`` may carry (as ``--allowed-host``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: str | Path | None = None,
        config: EngineConfig | None = None,
        clock: Clock | None = None,
        blueprint: str | None = None,
        credentials: EngineCredentials | None = None,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"LocalEngine binds to loopback only; got host {host!r}. Use `batch-eks local serve` for more.")
        self.host = host
        self.port = port or _free_port(host)
        self.state_dir = state_dir
        self.config = config or EngineConfig()
        self.clock = clock
        self.blueprint = blueprint
        self.credentials = credentials
        self.allowed_hosts = tuple(allowed_hosts)
        self.engine: Engine | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> "LocalEngine":
        self.engine = Engine(self.config, self.state_dir, self.clock)
        self.engine.set_api_address(self.host, self.port)
        if self.blueprint:
            from .blueprints import apply_blueprint

            apply_blueprint(self.engine, self.blueprint)
        app = build_served_app(self.engine, self.credentials, self.allowed_hosts)
        config = uvicorn.Config(app, host=self.host, port=self.port, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"batch-eks-local:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise EngineStartError(f"The local engine failed to start on {self.url}.")
            if time.monotonic() > deadline:
                raise EngineStartError(f"The local engine did not start on {self.url} within {timeout}s.")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._server = None
        self._thread = None

    def __enter__(self) -> "LocalEngine":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
