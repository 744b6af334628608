"""The order in which a job queue offers its RUNNABLE jobs to the compute environments.

A queue without a scheduling policy is FIFO: jobs are offered in the order they became RUNNABLE.

A queue with a fair-share scheduling policy (``fairsharePolicy``) shares its compute between the share
identifiers of its jobs:

- each share's *usage* is the vCPUs its jobs hold now, plus, when ``shareDecaySeconds`` > 0, the vCPU
  seconds it used recently (decaying exponentially with that time constant) averaged over that period;
- a share's weight comes from ``shareDistribution`` (exact ``shareIdentifier`` first, then the longest
  trailing-``*`` prefix, else 1); a share's *fair-share value* is usage x weight, so a lower weight buys a
  larger share (weights 1 and 3 split the compute 3:1);
- the next job offered comes from the share with the lowest value (ties: the share whose next job has
  waited longest); within a share, higher ``schedulingPriority`` first, then FIFO;
- ``computeReservation`` keeps ``(computeReservation/100) ** activeShares`` of the queue's maximum vCPUs
  for share identifiers that have nothing running yet.

Every structure here is updated as jobs change (a heap per share, usage per share), so choosing the next
job costs O(log n) and a scheduler pass never walks all the RUNNABLE jobs.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import defaultdict
from typing import Iterator

from ..store.models import Job, JobQueue, JobStatus, SchedulingPolicy
from ..store.state import EngineState
from .queue_positions import QueuePositions

__all__ = ["share_weight", "FairShareQueue", "FairShareBook", "fifo_candidates"]


def share_weight(policy: SchedulingPolicy | None, share: str | None) -> float:
    """The weightFactor ``shareDistribution`` gives ``share`` (exact match, then longest ``prefix*``, else 1)."""
    if policy is None or share is None:
        return 1.0
    best: tuple[int, float] | None = None
    for entry in policy.fairshare.get("shareDistribution") or []:
        ident = str(entry.get("shareIdentifier", ""))
        weight = float(entry.get("weightFactor", 1.0) or 1.0)
        if ident == share:
            return weight
        if ident.endswith("*") and share.startswith(ident[:-1]):
            if best is None or len(ident) > best[0]:
                best = (len(ident), weight)
    return best[1] if best else 1.0


def fifo_candidates(state: EngineState, runnable: dict[str, None], skip: int = 0) -> Iterator[Job]:
    """The RUNNABLE jobs of a FIFO queue, oldest first, while the caller places (and so removes) them.

    Jobs the caller leaves in place are stepped over by counting them, so the walk never copies the whole
    queue: it costs what the caller consumes.
    """
    examined_left = skip
    while True:
        chunk = list(itertools.islice(runnable, examined_left, examined_left + 64))
        if not chunk:
            return
        for job_id in chunk:
            job = state.jobs[job_id]
            yield job
            if job.status == JobStatus.RUNNABLE and job_id in runnable:
                examined_left += 1


class FairShareQueue:
    """The RUNNABLE jobs of one fair-share queue, in a heap per share identifier, and each share's usage."""

    def __init__(self) -> None:
        self.heaps: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        self.entry_seq: dict[str, int] = {}
        self.running_vcpus: dict[str, float] = defaultdict(float)
        self.decayed_vcpu_seconds: dict[str, float] = defaultdict(float)
        self._seq = itertools.count()

    def push(self, job: Job) -> None:
        seq = next(self._seq)
        self.entry_seq[job.job_id] = seq
        share = job.share_identifier or ""
        heapq.heappush(self.heaps[share], (-(job.scheduling_priority or 0), seq, job.job_id))

    def _top(self, state: EngineState, share: str) -> tuple[int, int, str] | None:
        heap = self.heaps[share]
        while heap:
            _, seq, job_id = entry = heap[0]
            job = state.jobs.get(job_id)
            if job is not None and job.status == JobStatus.RUNNABLE and self.entry_seq.get(job_id) == seq:
                return entry
            heapq.heappop(heap)
            if self.entry_seq.get(job_id) == seq:
                del self.entry_seq[job_id]
        return None

    def decay(self, elapsed: float, decay_seconds: float) -> None:
        """Fold ``elapsed`` seconds of the current usage into each share's decayed history."""
        if decay_seconds <= 0 or elapsed <= 0:
            return
        factor = math.exp(-elapsed / decay_seconds)
        for share in set(self.decayed_vcpu_seconds) | set(self.running_vcpus):
            self.decayed_vcpu_seconds[share] = self.decayed_vcpu_seconds[share] * factor + self.running_vcpus[share] * elapsed

    def usage(self, share: str, decay_seconds: float) -> float:
        used = self.running_vcpus.get(share, 0.0)
        if decay_seconds > 0:
            used += self.decayed_vcpu_seconds.get(share, 0.0) / decay_seconds
        return used

    def candidates(
        self, state: EngineState, policy: SchedulingPolicy | None, capacity_vcpus: float, cpu_of
    ) -> Iterator[Job]:
        """Offer jobs, lowest fair-share value first; the caller places a job or leaves it.

        A job the caller leaves (no room) is set aside for this walk; a placed job's vCPUs count towards its
        share at once (the caller calls :meth:`started`), so the next pick already sees the new usage.
        """
        fairshare = policy.fairshare if policy is not None else {}
        decay_seconds = float(fairshare.get("shareDecaySeconds") or 0)
        reservation = float(fairshare.get("computeReservation") or 0) / 100.0
        set_aside: list[tuple[str, tuple[int, int, str]]] = []
        blocked: set[str] = set()
        try:
            while True:
                active = sum(1 for v in self.running_vcpus.values() if v > 0)
                reserved = capacity_vcpus * (reservation**active) if reservation > 0 and active else 0.0
                in_use = sum(self.running_vcpus.values())
                best: tuple[float, int, str] | None = None
                for share in list(self.heaps):
                    if share in blocked:
                        continue
                    top = self._top(state, share)
                    if top is None:
                        del self.heaps[share]
                        continue
                    job = state.jobs[top[2]]
                    if reserved and self.running_vcpus.get(share, 0) > 0 and in_use + cpu_of(job) > capacity_vcpus - reserved:
                        blocked.add(share)  # room kept for shares with nothing running yet
                        continue
                    value = self.usage(share, decay_seconds) * share_weight(policy, share)
                    key = (value, top[1], share)
                    if best is None or key < best:
                        best = key
                if best is None:
                    return
                share = best[2]
                entry = heapq.heappop(self.heaps[share])
                job = state.jobs[entry[2]]
                # Set aside before offering: a caller that stops the walk at this job (no room left) closes the
                # generator inside the yield, and the job must be back in its heap for the next pass.
                set_aside.append((share, entry))
                yield job
                if job.status != JobStatus.RUNNABLE:
                    set_aside.pop()  # placed (or gone): it leaves the heap
                    self.entry_seq.pop(job.job_id, None)
        finally:
            for share, entry in set_aside:
                heapq.heappush(self.heaps[share], entry)

    def front(self, state: EngineState, policy: SchedulingPolicy | None, limit: int, cpu_of) -> list[Job]:
        """The first ``limit`` jobs :meth:`candidates` would offer, read-only: each offer raises its share's
        value by the job's vCPUs as a placement would, so shares take turns by weight (``computeReservation``,
        which holds some shares back while others run, is left out)."""
        decay_seconds = float((policy.fairshare if policy is not None else {}).get("shareDecaySeconds") or 0)
        entries: dict[str, list[tuple[int, int, str]]] = {}
        for share, heap in self.heaps.items():
            valid = sorted(
                entry
                for entry in heap
                if self.entry_seq.get(entry[2]) == entry[1]
                and (job := state.jobs.get(entry[2])) is not None
                and job.status == JobStatus.RUNNABLE
            )
            if valid:
                entries[share] = valid
        usage = {share: self.usage(share, decay_seconds) for share in entries}
        next_index = dict.fromkeys(entries, 0)
        ordered: list[Job] = []
        while len(ordered) < limit and next_index:
            share = min(
                next_index,
                key=lambda s: (usage[s] * share_weight(policy, s), entries[s][next_index[s]][1], s),
            )
            job = state.jobs[entries[share][next_index[share]][2]]
            ordered.append(job)
            usage[share] += cpu_of(job)
            next_index[share] += 1
            if next_index[share] >= len(entries[share]):
                del next_index[share]
        return ordered

    def started(self, job: Job, cpu: float) -> None:
        self.running_vcpus[job.share_identifier or ""] += cpu

    def finished(self, job: Job, cpu: float) -> None:
        share = job.share_identifier or ""
        self.running_vcpus[share] = max(0.0, self.running_vcpus[share] - cpu)


class FairShareBook:
    """The :class:`FairShareQueue` of every queue that has a scheduling policy, the read-only front of any queue
    in the order it offers its jobs (:meth:`front_of_queue`), and where those jobs stood
    (:attr:`positions`, for GetJobQueueSnapshot)."""

    def __init__(self, state: EngineState) -> None:
        self.state = state
        self.queues: dict[str, FairShareQueue] = defaultdict(FairShareQueue)
        self.positions = QueuePositions()

    def front_of_queue(self, queue: JobQueue, limit: int, cpu_of) -> list[Job]:
        """The first ``limit`` RUNNABLE jobs of ``queue`` in the order the scheduler offers them (FIFO, or fair
        share as :meth:`FairShareQueue.candidates`), without changing what runs next."""
        policy = self.policy_of(queue)
        if policy is None:
            runnable = self.state.status_index.runnable_by_queue.get(queue.arn, {})
            jobs = (self.state.jobs.get(job_id) for job_id in itertools.islice(runnable, limit))
            return [job for job in jobs if job is not None]
        book = self.queues.get(queue.arn)
        return book.front(self.state, policy, limit, cpu_of) if book is not None else []

    def policy_of(self, queue: JobQueue) -> SchedulingPolicy | None:
        arn = queue.scheduling_policy_arn
        return self.state.scheduling_policies.get(arn) if arn else None

    def job_runnable(self, job: Job) -> None:
        if job.share_identifier is not None:
            self.queues[job.job_queue_arn].push(job)

    def attempt_started(self, job: Job, cpu: float) -> None:
        if job.share_identifier is not None:
            self.queues[job.job_queue_arn].started(job, cpu)

    def attempt_ended(self, job: Job, cpu: float) -> None:
        if job.share_identifier is not None:
            self.queues[job.job_queue_arn].finished(job, cpu)

    def decay(self, elapsed: float) -> None:
        for queue_arn, book in self.queues.items():
            queue = self.state.find_queue(queue_arn)
            policy = self.policy_of(queue) if queue else None
            if policy is not None:
                book.decay(elapsed, float(policy.fairshare.get("shareDecaySeconds") or 0))
