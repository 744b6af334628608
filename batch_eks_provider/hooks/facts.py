"""Per-process memory of the slow-changing facts a submission checks: job queues, their compute environments
and job definitions, kept for a short time so a warm worker submits with one call (SubmitJob).

A fact is reused for at most :attr:`FactsCache.ttl` seconds (on an injectable clock). Everything is forgotten
when a SubmitJob fails, and a check that would refuse a job on remembered facts reads them again first, so a
stale fact can delay a refusal by one read but never refuse a job that fresh facts accept.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Hashable

__all__ = ["FactsCache", "facts_cache", "DEFAULT_TTL_SECONDS"]

DEFAULT_TTL_SECONDS = 30.0


class FactsCache:
    """A small TTL map: ``get(key, load)`` returns a value loaded less than ``ttl`` seconds ago, else loads it.

    :param ttl: Seconds a fact is reused.
    :param clock: Monotonic seconds (tests pass a fake).
    """

    def __init__(self, ttl: float = DEFAULT_TTL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], Any]) -> tuple[Any, bool]:
        """The value of ``key`` and whether it came from memory (``load()`` otherwise; ``None`` is not kept)."""
        now = self.clock()
        with self._lock:
            found = self._values.get(key)
        if found is not None and now - found[0] < self.ttl:
            return found[1], True
        value = load()
        if value is not None:
            with self._lock:
                self._values[key] = (now, value)
        return value, False

    def clear(self) -> None:
        """Forget every fact (after a failed SubmitJob, or when a refusal must be checked on fresh facts)."""
        with self._lock:
            self._values.clear()


facts_cache = FactsCache()
"""The process-wide cache the hook reads."""
