"""Job dependencies and array jobs: SUBMITTED -> PENDING/RUNNABLE, PENDING -> RUNNABLE or FAILED
(``Dependent Job failed``), and the status of array parents.

Work is driven by what changed: a job that ends re-checks only the jobs that wait on it (``dependents``)
and its array parent; an array parent is settled from its children's status counts, never by walking
its children.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

from .lifecycle import transition
from ..store.models import Job, JobStatus as S
from ..store.state import EngineState

__all__ = ["DependencyTracker", "DEPENDENCY_FAILED_REASON", "job_dependencies"]

DEPENDENCY_FAILED_REASON = "Dependent Job failed"


def job_dependencies(state: EngineState, job: Job) -> list[str]:
    """The ids of the jobs ``job`` waits for.

    Array children inherit their parent's standard dependencies; ``N_TO_N`` makes child i wait for child i
    of the other array job; ``SEQUENTIAL`` without a jobId makes child i wait for child i-1.
    """
    deps: list[str] = []
    source = state.jobs[job.parent_id] if job.parent_id else job
    for dep in source.depends_on:
        dep_type, dep_id = dep.get("type"), dep.get("jobId")
        if dep_type == "SEQUENTIAL" and not dep_id:
            if job.array_index:
                deps.append(f"{job.parent_id}:{job.array_index - 1}")
        elif dep_type == "N_TO_N":
            if job.array_index is not None:
                deps.append(f"{dep_id}:{job.array_index}")
            # the parent itself waits through its children
        elif dep_id and not job.is_array_parent:
            deps.append(dep_id)
    return deps


class DependencyTracker:
    """Admits submitted jobs and settles PENDING ones as the jobs they wait on end."""

    def __init__(self, state: EngineState, on_job_ended: Callable[[Job], None]) -> None:
        self.state = state
        self.on_job_ended = on_job_ended
        self.recheck: set[str] = set()  # PENDING jobs whose dependencies may have changed
        self.dependents: dict[str, set[str]] = defaultdict(set)  # job id -> PENDING jobs waiting on it

    def admit_submitted(self) -> None:
        """SUBMITTED -> PENDING (dependencies outstanding, or an array parent) or RUNNABLE."""
        for job_id in self.state.status_index.ids(S.SUBMITTED):
            job = self.state.jobs[job_id]
            if job.is_array_parent or job_dependencies(self.state, job):
                transition(self.state, job, S.PENDING)
                self.recheck.add(job_id)
            else:
                transition(self.state, job, S.RUNNABLE)

    def resolve_pending(self) -> None:
        """Move PENDING jobs whose dependencies have all succeeded (or one failed) on; repeat for chains."""
        while self.recheck:
            batch, self.recheck = self.recheck, set()
            for job_id in batch:
                job = self.state.jobs.get(job_id)
                if job is None or job.status != S.PENDING:
                    continue
                if job.is_array_parent:
                    self.settle_array_parent(job)
                    continue
                waiting = failed = False
                for dep_id in job_dependencies(self.state, job):
                    dep = self.state.jobs.get(dep_id)
                    if dep is None or dep.status == S.SUCCEEDED:
                        continue
                    if dep.status == S.FAILED:
                        failed = True
                        break
                    waiting = True
                    self.dependents[dep_id].add(job_id)
                if failed:
                    transition(self.state, job, S.FAILED, DEPENDENCY_FAILED_REASON)
                    self.job_ended(job)
                elif not waiting:
                    transition(self.state, job, S.RUNNABLE)

    def settle_array_parent(self, parent: Job) -> None:
        """An array parent succeeds when every child has, and fails when all ended and one failed."""
        if parent.status != S.PENDING:
            return
        counts = self.state.status_index.summary(parent.job_id)
        total = sum(counts.values())
        if counts[S.SUBMITTED] or counts[S.SUCCEEDED] + counts[S.FAILED] < total:
            return
        if counts[S.FAILED] == 0:
            transition(self.state, parent, S.SUCCEEDED)
        else:
            children = self.state.children.get(parent.job_id, [])
            dep_failed = all(
                self.state.jobs[c].status_reason == DEPENDENCY_FAILED_REASON
                for c in children
                if self.state.jobs[c].status == S.FAILED
            )
            reason = DEPENDENCY_FAILED_REASON if dep_failed else (
                f"Array Child Job failed ({counts[S.FAILED]} of {total} children failed)"
            )
            transition(self.state, parent, S.FAILED, reason)
        self.job_ended(parent)

    def job_ended(self, job: Job) -> None:
        """Re-check whatever waited on ``job``: its dependents and its array parent."""
        self.recheck.update(self.dependents.pop(job.job_id, ()))
        if job.parent_id:
            self.recheck.add(job.parent_id)
        self.on_job_ended(job)
