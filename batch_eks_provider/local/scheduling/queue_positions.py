"""Where each job stood at the front of its queue when last looked at, and since when: the
``earliestTimeAtPosition`` of GetJobQueueSnapshot.

AWS samples its snapshot (it may be up to a minute old); the engine samples too, at each snapshot: a job first
seen at the front is taken to have stood at its position since it became RUNNABLE, a job seen at the same
position as in the previous snapshot keeps its time, and a job that moved gets the snapshot's time. Owned by the
scheduler's queue-order book (:class:`.fairshare.FairShareBook`), one per engine.
"""

from __future__ import annotations

from ..store.models import Job

__all__ = ["QueuePositions"]


class QueuePositions:
    def __init__(self) -> None:
        self._seen: dict[str, dict[str, tuple[int, int]]] = {}  # queue ARN -> job id -> (position, since ms)

    def observe(self, queue_arn: str, front: list[Job], now_ms: int) -> list[int]:
        """Record ``front`` (the queue's first jobs, in order) as seen at ``now_ms``; return, for each job, the
        time (ms) it has stood at its position."""
        before = self._seen.get(queue_arn, {})
        now_at: dict[str, tuple[int, int]] = {}
        for position, job in enumerate(front):
            earlier = before.get(job.job_id)
            if earlier is None:  # first seen here: it may have stood here since it became RUNNABLE
                runnable_ms = int((job.runnable_since or 0) * 1000) or job.created_at
                since = min(runnable_ms, now_ms)
            elif earlier[0] == position:
                since = earlier[1]
            else:  # it moved up since the last snapshot
                since = now_ms
            now_at[job.job_id] = (position, since)
        self._seen[queue_arn] = now_at
        return [since for _, since in now_at.values()]

    def forget(self, queue_arn: str) -> None:
        self._seen.pop(queue_arn, None)
