"""What a waiter does about a job that waits too long, can never start, or keeps losing its Spot node.

:class:`WaitRules` is what a task asked for (``explain_after``, ``on_stuck``/``stuck_after``,
``max_spot_reclaims``); :func:`verdict` reads one DescribeJobs entry against them and says whether to stop
waiting and why. The sync wait calls it every poll; the trigger calls it on every entry the shared poller
reads, and fires an event with the verdict, so both modes decide the same way from the same entry.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

from ..exceptions import BatchEksInvalidInputError
from ..outcome import SPOT_RECLAIM_PREFIX, TERMINAL_STATUSES
from .policy import DEFAULT_EXPLAIN_AFTER

__all__ = [
    "ON_STUCK_CHOICES",
    "NEVER_FITS_CODES",
    "WAITING_STATUSES",
    "StatusTimer",
    "Verdict",
    "WaitRules",
    "blocked_code",
    "spot_reclaims",
    "verdict",
]

WAITING_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING")
STUCK_STATUSES = ("RUNNABLE", "STARTING")
"""Where ``stuck_after`` counts: a PENDING job waits on its upstream jobs, which is not being stuck."""
ON_STUCK_CHOICES = (None, "fail", "next_queue")
NEVER_FITS_CODES = frozenset(
    {"MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT", "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE"}
)
"""Blocked-queue reasons of a job that can never start on its queue: waiting longer cannot help."""


def blocked_code(status_reason: str | None) -> str | None:
    """The ``CATEGORY:CODE`` head of a blocked-queue ``statusReason`` (``MISCONFIGURATION:...``,
    ``CAPACITY:...``), or ``None`` for any other reason."""
    if not status_reason:
        return None
    head = status_reason.replace("\u2013", "-").split(" - ", 1)[0].strip()
    category, _, code = head.partition(":")
    if category in ("MISCONFIGURATION", "CAPACITY") and code and " " not in code:
        return head
    return None


def spot_reclaims(job: Mapping[str, Any]) -> int:
    """How many of the job's attempts a Spot reclaim ended (``Host EC2 ...`` status reasons)."""
    return sum(1 for a in job.get("eksAttempts") or [] if (a.get("statusReason") or "").startswith(SPOT_RECLAIM_PREFIX))


def _seconds(field: str, value: Any, *, allow_none: bool = True) -> float | None:
    if value is None or value == "":
        if allow_none:
            return None
        raise BatchEksInvalidInputError(field, value, "is required.")
    if isinstance(value, str) and value.strip().lower() == "none":
        return None
    try:
        seconds = float(value.total_seconds() if hasattr(value, "total_seconds") else value)
    except (TypeError, ValueError):
        raise BatchEksInvalidInputError(field, value, "must be a number of seconds (or None).") from None
    if not seconds > 0:
        raise BatchEksInvalidInputError(field, value, "must be more than 0 seconds (or None to turn it off).")
    return seconds


@dataclass(frozen=True)
class WaitRules:
    """What a task asked of its wait beyond "until the job ends".

    :param explain_after: Seconds in PENDING/RUNNABLE/STARTING before a line says why the job waits
        (then again at most every ``max(explain_after, MIN_EXPLAIN_INTERVAL)``); ``None``: never.
    :param on_stuck: ``None``; ``"fail"`` (cancel the job, fail the task with the reason);
        ``"next_queue"`` (cancel it and submit to the next queue of ``job_queue``, once).
    :param stuck_after: Seconds in RUNNABLE or STARTING that make a job stuck (with ``on_stuck``). A job that can
        never start (:data:`NEVER_FITS_CODES`) is stuck at once.
    :param max_spot_reclaims: Spot reclaims of one job after which it is stopped and the rest of the work goes
        to the fallback queue; ``None``: Batch's own retries decide.
    """

    explain_after: float | None = DEFAULT_EXPLAIN_AFTER
    on_stuck: str | None = None
    stuck_after: float | None = None
    max_spot_reclaims: int | None = None

    @classmethod
    def parse(cls, *, explain_after: Any, on_stuck: Any, stuck_after: Any, max_spot_reclaims: Any) -> "WaitRules":
        """Rules from (rendered) operator arguments.

        :raises BatchEksInvalidInputError: a value that is not what the field takes (named with the rule).
        """
        if isinstance(on_stuck, str) and on_stuck.strip().lower() in ("", "none"):
            on_stuck = None
        if on_stuck not in ON_STUCK_CHOICES:
            raise BatchEksInvalidInputError("on_stuck", on_stuck, 'must be None, "fail" or "next_queue".')
        reclaims = None
        if max_spot_reclaims not in (None, ""):
            try:
                reclaims = int(max_spot_reclaims)
            except (TypeError, ValueError):
                raise BatchEksInvalidInputError("max_spot_reclaims", max_spot_reclaims, "must be a whole number.") from None
            if reclaims < 1:
                raise BatchEksInvalidInputError("max_spot_reclaims", max_spot_reclaims, "must be at least 1 (or None).")
        return cls(
            explain_after=_seconds("explain_after", explain_after),
            on_stuck=on_stuck,
            stuck_after=_seconds("stuck_after", stuck_after),
            max_spot_reclaims=reclaims,
        )

    def to_dict(self) -> dict[str, Any]:
        """The trigger's serialized form (JSON values only)."""
        return asdict(self)

    def after_redirect(self) -> "WaitRules":
        """The rules for the job that replaced a stuck or reclaimed one: it moves once; stuck again, it fails."""
        return WaitRules(
            explain_after=self.explain_after,
            on_stuck="fail" if self.on_stuck else None,
            stuck_after=self.stuck_after,
            max_spot_reclaims=None,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "WaitRules":
        return cls(**dict(data or {}))


@dataclass(frozen=True)
class Verdict:
    """Stop waiting: ``kind`` is ``"stuck"`` or ``"spot_reclaims"``; ``reason`` is for the task log."""

    kind: str
    reason: str
    status: str
    never_fits: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Verdict":
        return cls(**dict(data))


class StatusTimer:
    """How long a job has been in its current status, on the waiter's clock (Batch gives no per-status times)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._status: str | None = None
        self._since = 0.0

    def observe(self, job: Mapping[str, Any]) -> float:
        """Read the job's status; return the seconds it has been in it."""
        now = self._clock()
        if job.get("status") != self._status:
            self._status, self._since = job.get("status"), now
        return now - self._since


def verdict(rules: WaitRules, job: Mapping[str, Any], waited_in_status: float) -> Verdict | None:
    """Whether to stop waiting on this entry, and why (``None``: wait on, or the job ended its own way).

    An ended job has a verdict only when Spot reclaims failed it and ``max_spot_reclaims`` asks for a fallback
    (Batch's own retries ran out before the limit was seen).
    """
    status = job.get("status")
    reclaims = spot_reclaims(job)
    if status in TERMINAL_STATUSES:
        last = (job.get("eksAttempts") or [{}])[-1]
        lost_to_spot = status == "FAILED" and (last.get("statusReason") or "").startswith(SPOT_RECLAIM_PREFIX)
        if rules.max_spot_reclaims and lost_to_spot and not job.get("isTerminated"):
            return Verdict("spot_reclaims", f"it failed after {reclaims} Spot reclaim(s): {last.get('statusReason')}", "FAILED")
        return None
    if rules.max_spot_reclaims and reclaims >= rules.max_spot_reclaims:
        return Verdict(
            "spot_reclaims",
            f"its attempts were reclaimed by Spot {reclaims} time(s) (max_spot_reclaims={rules.max_spot_reclaims})",
            str(status),
        )
    if rules.on_stuck is None or status not in STUCK_STATUSES:
        return None
    code = blocked_code(job.get("statusReason"))
    if status == "RUNNABLE" and code in NEVER_FITS_CODES:
        return Verdict("stuck", f"it can never start on this queue: {job.get('statusReason')}", "RUNNABLE", never_fits=True)
    if rules.stuck_after is not None and waited_in_status >= rules.stuck_after:
        why = f" ({job['statusReason']})" if job.get("statusReason") else ""
        return Verdict("stuck", f"it has been {status} for {waited_in_status:.0f}s (stuck_after={rules.stuck_after:g}s){why}", str(status))
    return None
