"""Clocks for the local engine.

Every time-based behaviour of the engine (timeouts, node start-up, pod retention, fair-share decay) reads
time from a :class:`Clock`. Tests use :class:`ManualClock` and move time with ``advance()`` (or the admin
route ``POST /_local/clock/advance``) so that nothing has to sleep to pass.
"""

from __future__ import annotations

import threading
import time

__all__ = ["Clock", "SystemClock", "ManualClock"]


class Clock:
    """Source of the engine's notion of "now", in epoch seconds."""

    def now(self) -> float:
        raise NotImplementedError

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    @property
    def is_manual(self) -> bool:
        return False


class SystemClock(Clock):
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()


class ManualClock(Clock):
    """A clock that only moves when told to; starts at the wall-clock time of its creation."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"Cannot move a clock backwards: advance({seconds!r}).")
        with self._lock:
            self._now += seconds
            return self._now

    @property
    def is_manual(self) -> bool:
        return True
