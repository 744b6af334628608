"""One local engine: its state, scheduler, logs and fault settings, independent of any HTTP server."""

from __future__ import annotations

import asyncio
import random
import tempfile
from pathlib import Path

from .clock import Clock, SystemClock
from .errors import ServerException, TooManyRequestsException
from .logs import LogStore
from .metrics import EngineMetrics
from .scheduler import Scheduler
from .state import EngineConfig, EngineState
from .store import Store

__all__ = ["Engine"]


class Engine:
    """The engine's parts, wired together. Must be started on the event loop that serves it."""

    def __init__(self, config: EngineConfig | None = None, state_dir: str | Path | None = None, clock: Clock | None = None) -> None:
        self.config = config or EngineConfig()
        self.clock = clock or SystemClock()
        self.state_dir = Path(state_dir) if state_dir else None
        self.store = Store(self.state_dir)
        self.state = EngineState(self.config, self.store, self.clock)
        self.logs = LogStore(self.store, self.clock)
        self.metrics = EngineMetrics(self.state)
        work_root = (self.state_dir or Path(tempfile.mkdtemp(prefix="batch-eks-local-"))) / "pods"
        self.scheduler = Scheduler(self.state, self.logs, work_root, self.metrics)
        self.fault_rng = random.Random(self.config.random_seed)
        self._task: asyncio.Task | None = None
        self.state.load()

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.scheduler.run(), name="batch-eks scheduler")

    async def stop(self) -> None:
        await self.scheduler.stop()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=5)
        self.store.close()

    def maybe_inject_fault(self) -> None:
        """Raise an injected throttling or server error at the configured rates (AWS API routes only)."""
        roll = self.fault_rng.random()
        if roll < self.config.throttle_rate:
            raise TooManyRequestsException()
        if roll < self.config.throttle_rate + self.config.server_error_rate:
            raise ServerException("Injected server error (local engine fault injection).")
