"""Where the work goes when a job is stuck or keeps losing its Spot node (``on_stuck``, ``max_spot_reclaims``).

Pure functions of the task's queues and the verdict: the operator terminates the job and submits the work to
the queue :func:`move_target` names, or fails the task when it names none.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..waiting.rules import Verdict

__all__ = ["short_name", "next_queue", "fallback_queue", "move_target"]


def short_name(ref: str | None) -> str:
    """A queue's name from its name or ARN."""
    return (ref or "").rsplit("/", 1)[-1]


def next_queue(queues: Sequence[str], current: str) -> str | None:
    """The queue of ``queues`` after ``current`` (a name or ARN), or ``None``."""
    names = [short_name(q) for q in queues]
    if short_name(current) not in names:
        return None
    position = names.index(short_name(current))
    return queues[position + 1] if position + 1 < len(queues) else None


def fallback_queue(queues: Sequence[str], current: str, spot_fallback_queue: str | None) -> str | None:
    """Where Spot-reclaimed work goes: ``spot_fallback_queue``, else the queue after ``current``."""
    if spot_fallback_queue and short_name(spot_fallback_queue) != short_name(current):
        return spot_fallback_queue
    return next_queue(queues, current)


def move_target(
    stop: Verdict,
    job: Mapping[str, Any],
    queues: Sequence[str],
    *,
    on_stuck: str | None,
    spot_fallback_queue: str | None,
    moved_before: bool,
) -> str | None:
    """The queue to move the work to, or ``None``: fail the task (``on_stuck="fail"``, the work moved once
    already, or no queue is left)."""
    current = job.get("jobQueue", "")
    if stop.kind == "spot_reclaims":
        return fallback_queue(queues, current, spot_fallback_queue)
    if on_stuck != "next_queue" or moved_before:
        return None
    return next_queue(queues, current)
