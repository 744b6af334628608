"""GetJobQueueSnapshot: the front of a job queue in scheduling order, and what the queue is using.

As AWS documents it (botocore's ``GetJobQueueSnapshotResponse``):

- ``frontOfQueue.jobs``: the first 100 RUNNABLE jobs in the order the scheduler offers them: a FIFO queue by
  the time each became RUNNABLE; a fair-share queue share by share, the share with the lowest fair-share
  value (usage x weight) first, and within a share by ``schedulingPriority`` then age, read from the
  scheduler's own heaps without changing them (:meth:`..scheduling.fairshare.FairShareBook.front_of_queue`).
  ``earliestTimeAtPosition`` is when the job reached its present position as the engine's snapshots saw it
  (:mod:`..scheduling.queue_positions`, kept by the scheduler), ``lastUpdatedAt`` when the snapshot was taken
  (milliseconds).
- ``queueUtilization``: the vCPUs (``capacityUnit: cpu`` on EKS) that the queue's STARTING and RUNNING jobs
  hold, and on a fair-share queue the number of active shares and the top 20 shares by usage.
"""

from __future__ import annotations

from typing import Any

from ..resources import pod_requests
from ..store.models import JobQueue, JobStatus
from ..store.state import EngineState
from .job_queues import find as find_queue
from .validation import require

__all__ = ["snapshot", "FRONT_OF_QUEUE_SIZE", "TOP_SHARES"]

FRONT_OF_QUEUE_SIZE = 100
TOP_SHARES = 20
_CAPACITY_UNIT = "cpu"  # EKS; EC2 says VCPU


def snapshot(state: EngineState, fairshare: Any, params: dict[str, Any]) -> dict[str, Any]:
    """GetJobQueueSnapshot for ``params["jobQueue"]`` (a name or an ARN).

    :param fairshare: the scheduler's :class:`~..scheduling.fairshare.FairShareBook`: the queue's order and
        share usage are read, never changed; it keeps the positions seen (``fairshare.positions``).
    """
    require(params, "jobQueue")
    queue = find_queue(state, params["jobQueue"])
    now_ms = state.clock.now_ms()
    policy = fairshare.policy_of(queue)
    book = fairshare.queues.get(queue.arn) if policy is not None else None
    front = fairshare.front_of_queue(queue, FRONT_OF_QUEUE_SIZE, lambda job: pod_requests(job.pod_properties)[0])
    since = fairshare.positions.observe(queue.arn, front, now_ms)
    response: dict[str, Any] = {
        "frontOfQueue": {
            "jobs": [{"jobArn": job.job_arn, "earliestTimeAtPosition": at} for job, at in zip(front, since)],
            "lastUpdatedAt": now_ms,
        },
        "queueUtilization": _utilization(state, queue, policy is not None, book, now_ms),
    }
    return response


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
