"""One heap of deadlines on the engine's clock: attempt timeouts, SIGKILL after the grace period,
``jobStateTimeLimitActions`` and pod deletion. A pass pops only what is due, so time-driven work never walks
every running job or every pod.

Entries are never removed early: whoever handles one checks that it still applies (the job is still on the
same attempt, the pod still exists), which keeps adding and cancelling O(log n).
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable

__all__ = ["Deadlines"]


class Deadlines:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, str, Any]] = []
        self._seq = itertools.count()

    def add(self, when: float, kind: str, key: str, token: Any = None) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), kind, key, token))

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def fire(self, now: float, handler: Callable[[str, str, Any], None]) -> int:
        """Hand every entry due at ``now`` to ``handler(kind, key, token)``, earliest first."""
        fired = 0
        while self._heap and self._heap[0][0] <= now:
            _, _, kind, key, token = heapq.heappop(self._heap)
            handler(kind, key, token)
            fired += 1
        return fired

    def __len__(self) -> int:
        return len(self._heap)
