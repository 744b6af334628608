"""Serve an engine over HTTP: in a background thread (tests, the demo) or in the foreground (the CLI).

Besides the plain port (every protocol), the engine serves its Kubernetes API over HTTPS on a second port,
as EKS serves a cluster endpoint (:mod:`.tls`): a TLS relay in the same event loop (started from the ASGI
lifespan), to the same guarded app.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import uvicorn

from .api.app import build_app
from .api.browser_guard import BrowserGuard
from .clock import Clock
from .engine import RUNTIMES, Engine
from .store.state import EngineConfig
from .tls import ClusterTLS, KubernetesTLSPort, cluster_tls

if TYPE_CHECKING:
    from .api.auth import EngineCredentials

__all__ = ["LocalEngine", "is_loopback", "EngineStartError", "build_served_app", "engine_tls"]


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
    engine: Engine,
    credentials: EngineCredentials | None = None,
    allowed_hosts: Iterable[str] = (),
    kubernetes_tls: ClusterTLS | None = None,
    bound: tuple[str, int] | None = None,
):
    """The ASGI app to serve: the engine's app behind the browser guard (always) and SigV4 verification
    (when ``credentials`` are given). ``allowed_hosts``: names besides IP addresses and ``localhost`` that
    a request's ``Host`` may carry (see :mod:`.api.browser_guard`). ``kubernetes_tls``: the HTTPS Kubernetes
    port and CA that ``DescribeCluster`` reports (None: the plain URL, no CA); with ``bound`` (the plain
    host and port the app is served on) the app serves that HTTPS port too, for as long as it runs."""
    app = build_app(engine)
    app.state.kubernetes_tls = kubernetes_tls
    if kubernetes_tls is not None and bound is not None:
        app = KubernetesTLSPort(app, kubernetes_tls, *bound)
    if credentials is not None:
        from .api.auth import SigV4Middleware, SigV4Verifier

        def cluster_names() -> set[str]:
            return {ce.cluster_arn.rsplit("/", 1)[-1] for ce in engine.state.compute_environments.values()}

        app = SigV4Middleware(app, SigV4Verifier(credentials, cluster_names))
    return BrowserGuard(app, allowed_hosts)


def engine_tls(state_dir: str | Path | None, port: int, hosts: Iterable[str] = ()) -> tuple[ClusterTLS, Path | None]:
    """The cluster TLS in ``<state_dir>/tls`` (or a new temporary directory, returned to remove at the end)."""
    if state_dir is not None:
        return cluster_tls(Path(state_dir) / "tls", port, hosts), None
    temporary = Path(tempfile.mkdtemp(prefix="batch-eks-tls-"))
    return cluster_tls(temporary, port, hosts), temporary


class LocalEngine:
    """An engine served on loopback from a background thread.

    Use it as a context manager::

        with LocalEngine() as engine:
            boto3.client("batch", endpoint_url=engine.url, ...)

    ``port=0`` picks a free port. ``clock`` may be a :class:`~batch_eks_provider.local.clock.ManualClock`
    for tests that move time by hand. ``credentials`` turns on SigV4 verification (as
    ``batch-eks local serve --allow-remote`` does) while still binding to loopback. ``allowed_hosts``:
    more names a request's ``Host`` may carry (as ``--allowed-host``). ``kubernetes_port``: the HTTPS
    Kubernetes port (0: a free one); its CA is :attr:`ca_path` (``<state_dir>/tls/ca.crt``, or a
    temporary directory removed at :meth:`stop`). ``runtime``: how pods run -- ``"process"``, ``"docker"`` or
    ``"auto"`` (see :func:`~batch_eks_provider.local.engine.choose_runtime`); None: ``$BATCH_EKS_RUNTIME``, else
    ``"process"``. ``docker`` without a daemon that answers makes :meth:`start` raise
    :class:`~batch_eks_provider.local.engine.RuntimeUnavailable`.
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
        kubernetes_port: int = 0,
        runtime: str | None = None,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"LocalEngine binds to loopback only; got host {host!r}. Use `batch-eks local serve` for more.")
        if runtime is not None and runtime not in RUNTIMES:
            raise ValueError(f"Invalid runtime {runtime!r}: must be one of {', '.join(RUNTIMES)}.")
        self.host = host
        self.port = port or _free_port(host)
        self.state_dir = state_dir
        self.config = config or EngineConfig()
        self.clock = clock
        self.blueprint = blueprint
        self.credentials = credentials
        self.allowed_hosts = tuple(allowed_hosts)
        self.kubernetes_port = kubernetes_port or _free_port(host)
        self.runtime = runtime
        self.tls: ClusterTLS | None = None
        self._tls_temporary: Path | None = None
        self.engine: Engine | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def kubernetes_url(self) -> str:
        """The cluster endpoint DescribeCluster reports: HTTPS, signed by :attr:`ca_path`."""
        return f"https://{self.host}:{self.kubernetes_port}"

    @property
    def ca_path(self) -> Path:
        if self.tls is None:
            raise EngineStartError("The local engine has not started: it has no CA yet.")
        return self.tls.ca_path

    def start(self, timeout: float = 10.0) -> "LocalEngine":
        self.engine = Engine(self.config, self.state_dir, self.clock, runtime=self.runtime)
        self.engine.set_api_address(self.host, self.port)
        if self.blueprint:
            from .blueprints import apply_blueprint

            apply_blueprint(self.engine, self.blueprint)
        self.tls, self._tls_temporary = engine_tls(self.state_dir, self.kubernetes_port, self.allowed_hosts)
        app = build_served_app(self.engine, self.credentials, self.allowed_hosts, self.tls, (self.host, self.port))
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
        if self._tls_temporary is not None:
            shutil.rmtree(self._tls_temporary, ignore_errors=True)
            self._tls_temporary = None

    def __enter__(self) -> "LocalEngine":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
