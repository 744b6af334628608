"""Job retention: terminal jobs older than ``EngineConfig.job_retention_seconds`` (7 days by default, the
least AWS keeps them describable) leave memory, the indexes and SQLite, so a long-lived engine does not grow
for ever. An array job goes with its children, once it has ended itself.

The sweep walks the terminal jobs at most once per ``SWEEP_INTERVAL_SECONDS`` of engine time (and once at
start-up), not on every scheduler pass.
"""

from __future__ import annotations

from typing import Callable

from ..store.models import TERMINAL_STATUSES, Job, JobStatus as S
from ..store.state import EngineState

__all__ = ["JobRetention", "SWEEP_INTERVAL_SECONDS"]

SWEEP_INTERVAL_SECONDS = 3600.0


class JobRetention:
    """Removes expired terminal jobs; ``on_removed(job)`` lets the scheduler drop what it keeps per job."""

    def __init__(self, state: EngineState, on_removed: Callable[[Job], None]) -> None:
        self.state = state
        self.on_removed = on_removed
        self._next_sweep: float | None = None  # engine time of the next sweep; None: sweep on the next pass

    def maybe_sweep(self, now: float) -> int:
        """Sweep if one is due; return how many jobs were removed."""
        retention = self.state.config.job_retention_seconds
        if not retention or (self._next_sweep is not None and now < self._next_sweep):
            return 0
        self._next_sweep = now + min(SWEEP_INTERVAL_SECONDS, retention)
        return self.sweep(now - retention)

    def sweep(self, ended_before: float) -> int:
        """Remove every top-level terminal job that stopped before ``ended_before`` (engine seconds), with its
        array children. Returns how many jobs went."""
        cutoff_ms = ended_before * 1000
        removed = 0
        for status in (S.SUCCEEDED, S.FAILED):
            for job_id in list(self.state.status_index.by_status[status]):
                job = self.state.jobs.get(job_id)
                if job is None or job.parent_id is not None:
                    continue  # array children go with their parent
                if job.stopped_at is None or job.stopped_at > cutoff_ms:
                    continue
                children = [self.state.jobs.get(c) for c in self.state.children.get(job_id, [])]
                if any(c is not None and c.status not in TERMINAL_STATUSES for c in children):
                    continue
                for child in children:
                    if child is not None:
                        self._remove(child)
                        removed += 1
                self._remove(job)
                removed += 1
        return removed

    def _remove(self, job: Job) -> None:
        self.state.remove(job)
        self.state.status_index.discard(job)
        self.state.children.pop(job.job_id, None)
        self.on_removed(job)
