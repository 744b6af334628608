"""One local engine: its state, scheduler, logs and fault settings, independent of any HTTP server."""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
from pathlib import Path

from .clock import Clock, SystemClock
from .errors import ServerException, TooManyRequestsException
from .store.logs import LogStore
from .metrics import EngineMetrics
from .runtime.containment import find_cgroup_root
from .runtime.process_registry import REGISTRY_FILE, ProcessRegistry, reap_previous_run
from .scheduling.scheduler import Scheduler
from .store.state import EngineConfig, EngineState
from .store.sqlite import Store

__all__ = ["Engine", "RUNTIMES", "RuntimeUnavailable", "choose_runtime"]

RUNTIMES = ("process", "docker", "auto")
RUNTIME_ENV = "BATCH_EKS_RUNTIME"  # the default of ``runtime`` (and of ``batch-eks local serve --runtime``)


class RuntimeUnavailable(RuntimeError):
    """The runtime asked for cannot run here (``docker`` without a daemon that answers)."""


def choose_runtime(runtime: str | None) -> str:
    """``process`` or ``docker`` for a ``runtime`` setting: None is ``$BATCH_EKS_RUNTIME`` or ``process``;
    ``auto`` is docker when a Docker daemon answers (``DOCKER_HOST`` or the default socket), else process."""
    runtime = runtime or os.environ.get(RUNTIME_ENV) or "process"
    if runtime not in RUNTIMES:
        raise ValueError(f"Invalid runtime {runtime!r}: must be one of {', '.join(RUNTIMES)}.")
    if runtime == "auto":
        from .runtime.docker_daemon import daemon_answers

        return "docker" if daemon_answers() is None else "process"
    return runtime


class Engine:
    """The engine's parts, wired together. Must be started on the event loop that serves it."""

    def __init__(
        self,
        config: EngineConfig | None = None,
        state_dir: str | Path | None = None,
        clock: Clock | None = None,
        runtime: str | None = None,
    ) -> None:
        """``runtime``: how pods run -- ``process`` (each container a local process; the default),
        ``docker`` (each container in its image in the Docker daemon), ``auto`` (docker when a daemon
        answers); None: ``$BATCH_EKS_RUNTIME`` or ``process`` (see :func:`choose_runtime`)."""
        self.runtime_name = choose_runtime(runtime)
        self.config = config or EngineConfig()
        self.clock = clock or SystemClock()
        self.state_dir = Path(state_dir) if state_dir else None
        self.store = Store(self.state_dir)
        self.state = EngineState(self.config, self.store, self.clock)
        self.logs = LogStore(
            self.store,
            self.clock,
            max_bytes_per_container=self.config.log_bytes_per_container,
            max_bytes_total=self.config.log_bytes_total,
        )
        self.metrics = EngineMetrics(self.state)
        work_root = (self.state_dir or Path(tempfile.mkdtemp(prefix="batch-eks-local-"))) / "pods"
        # A previous engine on this state dir may have left job processes running (it was killed): end
        # them, and wait until they are gone, before anything else (its attempts are then marked lost).
        self.reaped = reap_previous_run(self.state_dir) if self.state_dir else (0, 0)
        registry = ProcessRegistry(self.state_dir / REGISTRY_FILE if self.state_dir else None)
        self.scheduler = Scheduler(
            self.state, self.logs, work_root, self.metrics, registry=registry, cgroups=find_cgroup_root()
        )
        if self.runtime_name == "docker":
            self.scheduler.runtime = self._docker_runtime(self.scheduler.runtime)
        self.fault_rng = random.Random(self.config.random_seed)
        self._task: asyncio.Task | None = None
        self.state.load()

    def _docker_runtime(self, process_runtime):
        """The docker runtime in the process runtime's place, fed the same callbacks; it removes what an
        engine killed on this state dir left in the daemon before anything runs."""
        from .runtime.docker_daemon import DockerUnavailable
        from .runtime.docker_runtime import DockerRuntime

        try:
            return DockerRuntime(
                process_runtime.work_root,
                process_runtime.on_output,
                process_runtime.on_exit,
                pod_lookup=lambda name: self.state.pods.get(name),
                state_dir=self.state_dir,
                grace_seconds=process_runtime.grace_seconds,
            )
        except DockerUnavailable as e:
            self.store.close()
            raise RuntimeUnavailable(f"The docker runtime cannot start: {e}") from e

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.scheduler.run(), name="batch-eks scheduler")

    async def stop(self) -> None:
        await self.scheduler.stop()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=5)
        self.store.close()

    def set_api_address(self, host: str, port: int) -> None:
        """The address the engine's HTTP API is served on: containers started from now on get it in their
        ``KUBERNETES_SERVICE_HOST``/``KUBERNETES_SERVICE_PORT`` variables."""
        self.scheduler.api_address = (host, port)

    def set_eks_cluster_version(self, cluster_name: str, version: str) -> None:
        """Set the Kubernetes version of an EKS cluster (tests, admin API). Compute environments on it are
        validated again on their next UpdateComputeEnvironment, as Batch does."""
        self.state.set_eks_cluster_version(cluster_name, version)

    def set_spot_interruption_rate(self, rate: float, compute_environment: str | None = None) -> None:
        """Spot interruptions per Spot node per minute, engine-wide or for one compute environment."""
        if rate < 0:
            raise ValueError(f"Invalid Spot interruption rate {rate!r}: must not be negative.")
        if compute_environment is None:
            self.config.spot_interruption_rate = rate
            return
        ce = self.state.find_compute_environment(compute_environment)
        if ce is None:
            raise KeyError(compute_environment)
        ce.spot_interruption_rate = rate
        self.state.touch(ce)
        self.scheduler.wake_threadsafe()

    def maybe_inject_fault(self) -> None:
        """Raise an injected throttling or server error at the configured rates (AWS API routes only)."""
        roll = self.fault_rng.random()
        if roll < self.config.throttle_rate:
            raise TooManyRequestsException()
        if roll < self.config.throttle_rate + self.config.server_error_rate:
            raise ServerException("Injected server error (local engine fault injection).")
