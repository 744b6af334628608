"""GetJobQueueSnapshot: the front of a job queue in scheduling order, and what the queue is using.

As AWS documents it (botocore's ``GetJobQueueSnapshotResponse``):

- ``frontOfQueue.jobs``: the first 100 RUNNABLE jobs in the order the scheduler offers them: a FIFO queue by
  the time each became RUNNABLE; a fair-share queue share by share, the share with the lowest fair-share
  value (usage x weight) first, and within a share by ``schedulingPriority`` then age, as
  :mod:`..scheduling.fairshare` places them (here a read-only merge of the same rule, so asking never
  changes what runs next). ``earliestTimeAtPosition`` is when the job was first seen at its present
  position, ``lastUpdatedAt`` when the snapshot was taken (milliseconds).
- ``queueUtilization``: the vCPUs (``capacityUnit: cpu`` on EKS) that the queue's STARTING and RUNNING jobs
  hold, and on a fair-share queue the number of active shares and the top 20 shares by usage.

Positions are remembered per engine state between snapshots only, so ``earliestTimeAtPosition`` is the
first snapshot that saw the job where it is (or the time it became RUNNABLE when that is later) — AWS
samples its snapshot too (it may be up to a minute old).
"""

from __future__ import annotations

import weakref
from typing import Any

from ..resources import pod_requests
from ..scheduling.fairshare import share_weight
from ..store.models import Job, JobQueue, JobStatus
from ..store.state import EngineState
from .job_queues import find as find_queue
from .validation import require

__all__ = ["snapshot", "FRONT_OF_QUEUE_SIZE", "TOP_SHARES"]

FRONT_OF_QUEUE_SIZE = 100
TOP_SHARES = 20
_CAPACITY_UNIT = "cpu"  # EKS; EC2 says VCPU
_POSITIONS: "weakref.WeakKeyDictionary[EngineState, dict[str, dict[str, tuple[int, int]]]]" = weakref.WeakKeyDictionary()


def snapshot(state: EngineState, fairshare: Any, params: dict[str, Any]) -> dict[str, Any]:
    """GetJobQueueSnapshot for ``params["jobQueue"]`` (a name or an ARN).

    :param fairshare: the scheduler's :class:`~..scheduling.fairshare.FairShareBook` (share usage is read,
        never changed).
    """
    require(params, "jobQueue")
    queue = find_queue(state, params["jobQueue"])
    now_ms = state.clock.now_ms()
    policy = fairshare.policy_of(queue)
    runnable = [state.jobs[job_id] for job_id in state.status_index.runnable_by_queue.get(queue.arn, {}) if job_id in state.jobs]
    book = fairshare.queues.get(queue.arn) if policy is not None else None
    order = _fair_share_order(runnable, policy, book) if policy is not None else runnable
    front = order[:FRONT_OF_QUEUE_SIZE]
    response: dict[str, Any] = {
        "frontOfQueue": {
            "jobs": [{"jobArn": job.job_arn, "earliestTimeAtPosition": at} for job, at in _positions(state, queue, front, now_ms)],
            "lastUpdatedAt": now_ms,
        },
        "queueUtilization": _utilization(state, queue, policy is not None, book, now_ms),
    }
    return response


def _fair_share_order(runnable: list[Job], policy: Any, book: Any) -> list[Job]:
    """The order a fair-share queue offers ``runnable``, without taking anything from the scheduler's heaps.

    Each offer raises the chosen share's value by the job's vCPUs, as a placement would, so shares take turns
    by weight as they do when the scheduler places them.
    """
    decay_seconds = float(policy.fairshare.get("shareDecaySeconds") or 0)
    by_share: dict[str, list[Job]] = {}
    for job in runnable:
        by_share.setdefault(job.share_identifier or "", []).append(job)
    for jobs in by_share.values():
        jobs.sort(key=lambda j: (-(j.scheduling_priority or 0), j.runnable_since or 0, j.created_at))
    usage = {share: (book.usage(share, decay_seconds) if book is not None else 0.0) for share in by_share}
    ordered: list[Job] = []
    next_index = dict.fromkeys(by_share, 0)
    while len(ordered) < FRONT_OF_QUEUE_SIZE and next_index:
        share = min(
            next_index,
            key=lambda s: (usage[s] * share_weight(policy, s), by_share[s][next_index[s]].runnable_since or 0, s),
        )
        job = by_share[share][next_index[share]]
        ordered.append(job)
        usage[share] += pod_requests(job.pod_properties)[0]
        next_index[share] += 1
        if next_index[share] >= len(by_share[share]):
            del next_index[share]
    return ordered


def _positions(state: EngineState, queue: JobQueue, front: list[Job], now_ms: int) -> list[tuple[Job, int]]:
    seen = _POSITIONS.setdefault(state, {})
    before = seen.get(queue.arn, {})
    now_at: dict[str, tuple[int, int]] = {}
    answer = []
    for position, job in enumerate(front):
        runnable_ms = int((job.runnable_since or 0) * 1000) or job.created_at
        earlier = before.get(job.job_id)
        if earlier is None:  # first seen here: it may have stood here since it became RUNNABLE
            since = min(runnable_ms, now_ms)
        elif earlier[0] == position:
            since = earlier[1]
        else:  # it moved up since the last snapshot
            since = now_ms
        now_at[job.job_id] = (position, since)
        answer.append((job, since))
    seen[queue.arn] = now_at
    return answer


def _utilization(state: EngineState, queue: JobQueue, fair_share: bool, book: Any, now_ms: int) -> dict[str, Any]:
    in_use = 0.0
    by_share: dict[str, float] = {}
    for status in (JobStatus.STARTING, JobStatus.RUNNING):
        for job_id in state.status_index.ids(status):
            job = state.jobs.get(job_id)
            if job is None or job.job_queue_arn != queue.arn or job.is_array_parent:
                continue
            cpu = pod_requests(job.pod_properties)[0]
            in_use += cpu
            if job.share_identifier is not None:
                by_share[job.share_identifier] = by_share.get(job.share_identifier, 0.0) + cpu
    utilization: dict[str, Any] = {
        "totalCapacityUsage": [{"capacityUnit": _CAPACITY_UNIT, "quantity": in_use}],
        "lastUpdatedAt": now_ms,
    }
    if fair_share:
        top = sorted(by_share.items(), key=lambda item: (-item[1], item[0]))[:TOP_SHARES]
        utilization["fairshareUtilization"] = {
            "activeShareCount": sum(1 for used in by_share.values() if used > 0),
            "topCapacityUtilization": [
                {"shareIdentifier": share, "capacityUsage": [{"capacityUnit": _CAPACITY_UNIT, "quantity": used}]}
                for share, used in top
            ],
        }
    return utilization
