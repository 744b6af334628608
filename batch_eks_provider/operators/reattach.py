"""Before a try submits: is there a job of this task instance to re-attach to, or to move away from?

Only a try after another can find one (:func:`~batch_eks_provider.operators.identity.earlier_job_possible`): a
worker killed mid-job leaves its job running for the retry; a try after a Spot failure sends its work to the
fallback queue; a job of a try that succeeded is done work, and a new job is submitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from logging import Logger
from typing import Any

from ..hooks.batch import BatchEksHook
from ..outcome import job_outcome
from .identity import can_reattach, earlier_job_possible, identity_tags, run_start_ms, try_number
from .queue_moves import fallback_queue

__all__ = ["EarlierJob", "LOOKUP_STATUSES", "earlier_job"]

LOOKUP_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
"""The lookup reads FAILED jobs too: a try after a Spot failure moves to the fallback queue."""


@dataclass(frozen=True)
class EarlierJob:
    """What the lookup decided: the job to re-attach to (``job``), else the queues to submit to."""

    job: dict[str, Any] | None
    submit_to: list[str]
    moved_to_fallback: bool = False


def earlier_job(
    hook: BatchEksHook,
    context: Any,
    *,
    job_name: str,
    queues: list[str],
    spot_fallback_queue: str | None,
    max_spot_reclaims: int | None,
    log: Logger,
) -> EarlierJob:
    """Look for the newest job of this task instance created since its DAG run started (one ListJobs per queue
    that exists, by job name; the queue names come from the remembered facts, since ListJobs fails on a missing
    queue) and decide what this try does with it."""
    if not earlier_job_possible(context):
        return EarlierJob(None, queues)
    known = hook.known_queue_names(queues + ([spot_fallback_queue] if spot_fallback_queue else []))
    found = (
        hook.find_job_by_tags(
            known, identity_tags(context), job_name=job_name, statuses=LOOKUP_STATUSES, created_after_ms=run_start_ms(context)
        )
        if known
        else None
    )
    if found is None:
        return EarlierJob(None, queues)
    if max_spot_reclaims and job_outcome(found).kind == "spot_reclaimed":
        fallback = fallback_queue(queues, found["jobQueue"], spot_fallback_queue)
        if fallback:
            log.info(
                "AWS Batch job %s (%s) of an earlier try failed on Spot (%s): submitting this try to queue %s",
                found.get("jobName"), found["jobId"], found.get("statusReason"), fallback,
            )
            return EarlierJob(None, [fallback], moved_to_fallback=True)
        return EarlierJob(None, queues)
    if not can_reattach(found, try_number(context)):
        if found["status"] == "SUCCEEDED":
            log.info(
                "AWS Batch job %s (%s) of an earlier try is %s and that try succeeded: submitting a new job",
                job_name, found["jobId"], found["status"],
            )
        return EarlierJob(None, queues)
    return EarlierJob(found, queues)
