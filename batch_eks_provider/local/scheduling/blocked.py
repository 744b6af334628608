"""Why a RUNNABLE job cannot be placed: the blocked-queue ``statusReason`` values, worded as AWS Batch words them
(AWS Batch User Guide, "Jobs stuck in a RUNNABLE status"; botocore's ``JobDetail.statusReason``).

=================================================  ========================================================
statusReason                                       when (engine)
=================================================  ========================================================
:data:`JOB_RESOURCE_REQUIREMENT_REASON`            no instance type of any CE of the queue holds the job's
                                                   vCPUs, memory or GPUs
:data:`COMPUTE_ENVIRONMENT_MAX_RESOURCE_REASON`    an instance type holds it, but the job asks more vCPUs
                                                   than the maxvCpus of every CE whose types hold it
:data:`INVALID_COMPUTE_ENVIRONMENTS_REASON`        every CE of the queue is INVALID
:func:`.faults.insufficient_capacity_reason`       every CE that could grow for the job is kept from
                                                   launching the types that hold it (injected fault)
(none)                                             waiting for room: its CEs are full, DISABLED, or a node
                                                   is starting for it
=================================================  ========================================================

``MISCONFIGURATION:SERVICE_ROLE_PERMISSIONS`` and ``MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED``
do not arise here: the engine has no IAM and refuses unknown instance types at CreateComputeEnvironment.
A job queue has no blocked status of its own on AWS (it stays VALID; AWS sends a "Batch Job Queue Blocked"
event), so neither has it here.

:class:`BlockedJobs` remembers which jobs carry such a reason and looks at them again on every pass, so a
reason goes as soon as its cause does (a CE grew, a fault was removed, a CE became VALID).
"""

from __future__ import annotations

from typing import Callable

from ..store.models import ComputeEnvironment, Job, JobQueue, JobStatus
from ..store.state import EngineState
from .capacity import CapacityManager
from .faults import insufficient_capacity_reason

__all__ = [
    "JOB_RESOURCE_REQUIREMENT_REASON",
    "COMPUTE_ENVIRONMENT_MAX_RESOURCE_REASON",
    "INVALID_COMPUTE_ENVIRONMENTS_REASON",
    "BLOCKED_REASON_PREFIXES",
    "BlockedJobs",
    "insufficient_capacity_reason",
]

JOB_RESOURCE_REQUIREMENT_REASON = (
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher "
    "than that can be met by the CE(s) attached to the job queue."
)
COMPUTE_ENVIRONMENT_MAX_RESOURCE_REASON = (
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - CE(s) associated with the job queue cannot meet the CPU "
    "requirement of the job."
)
INVALID_COMPUTE_ENVIRONMENTS_REASON = "ACTION_REQUIRED - CE(s) associated with the job queue are invalid."
BLOCKED_REASON_PREFIXES = (
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
    "ACTION_REQUIRED",
)

Requests = tuple[float, int, int]  # (vCPUs, memory MiB, GPUs)


class BlockedJobs:
    """Decides and keeps the blocked-queue reasons of RUNNABLE jobs.

    :param queue_ces: a queue's compute environments in order (any state).
    :param requests_of: a job's pod requests.
    """

    def __init__(
        self,
        state: EngineState,
        capacity: CapacityManager,
        queue_ces: Callable[[JobQueue], list[ComputeEnvironment]],
        requests_of: Callable[[Job], Requests],
    ) -> None:
        self.state = state
        self.capacity = capacity
        self.queue_ces = queue_ces
        self.requests_of = requests_of
        self.reasons: dict[str, str] = {}  # job id -> the blocked reason it carries

    # -- deciding ------------------------------------------------------------------------------------------
    def misfit_reason(self, ces: list[ComputeEnvironment], req: Requests) -> str | None:
        """A reason when no CE of the queue (any state) can ever run the job, else None."""
        cpu, mem, gpu = req
        if any(self.capacity.can_ever_fit(ce, cpu, mem, gpu) for ce in ces):
            return None
        if any(self.capacity.some_type_holds(ce, cpu, mem, gpu) for ce in ces):
            return COMPUTE_ENVIRONMENT_MAX_RESOURCE_REASON
        return JOB_RESOURCE_REQUIREMENT_REASON

    def launch_target(self, fitting: list[ComputeEnvironment], req: Requests) -> ComputeEnvironment | None:
        """The first of ``fitting`` (usable CEs that can ever run the job) that can launch a node for it now."""
        cpu, mem, gpu = req
        for ce in fitting:
            if self.capacity.can_grow(ce) and self.capacity.pick_instance_type(ce, cpu, mem, gpu, 1.0) is not None:
                return ce
        return None

    def wait_reason(self, ces: list[ComputeEnvironment], fitting: list[ComputeEnvironment], req: Requests) -> str | None:
        """Why a job that fits the queue got no node and no launch this pass: every CE INVALID, or insufficient
        capacity in every CE that could grow for it; None while it waits for room (no reason, as on AWS)."""
        if ces and all(ce.status == "INVALID" for ce in ces):
            return INVALID_COMPUTE_ENVIRONMENTS_REASON
        cpu, mem, gpu = req
        growable = [ce for ce in fitting if self.capacity.can_grow(ce)]
        if not growable:
            return None
        blocked = [self.capacity.unobtainable_type(ce, cpu, mem, gpu) for ce in growable]
        if all(blocked):
            return insufficient_capacity_reason(str(blocked[0]))
        return None

    def why(self, queue: JobQueue, job: Job) -> str | None:
        """The job's blocked reason now (the same rules the placement walk applies)."""
        req = self.requests_of(job)
        ces = self.queue_ces(queue)
        misfit = self.misfit_reason(ces, req)
        if misfit is not None:
            return misfit
        cpu, mem, gpu = req
        fitting = [ce for ce in ces if ce.usable and self.capacity.can_ever_fit(ce, cpu, mem, gpu)]
        if any(self.capacity.find_ready_node(ce, cpu, mem, gpu) is not None for ce in fitting):
            return None
        if self.launch_target(fitting, req) is not None:
            return None
        return self.wait_reason(ces, fitting, req)

    # -- keeping ---------------------------------------------------------------------------------------------
    def mark(self, job: Job, reason: str | None) -> None:
        """Give ``job`` the blocked ``reason``, or take a blocked reason it carries away (``None``)."""
        if reason is None:
            old = self.reasons.pop(job.job_id, None)
            if old is not None and job.status_reason == old:
                job.status_reason = None
                self.state.touch(job)
            return
        self.reasons[job.job_id] = reason
        if job.status_reason != reason:
            job.status_reason = reason
            self.state.touch(job)

    def recheck(self) -> None:
        """Look again at every job carrying a blocked reason: drop those no longer RUNNABLE, clear or change
        the reason of the others as their queue's CEs and the faults now say."""
        for job_id in list(self.reasons):
            job = self.state.jobs.get(job_id)
            queue = self.state.find_queue(job.job_queue_arn) if job is not None else None
            if job is None or job.status != JobStatus.RUNNABLE or queue is None:
                self.reasons.pop(job_id, None)
                continue
            self.mark(job, self.why(queue, job))

    def forget(self, job_id: str) -> None:
        self.reasons.pop(job_id, None)

    def is_misfit(self, job_id: str) -> bool:
        return self.reasons.get(job_id) in (JOB_RESOURCE_REQUIREMENT_REASON, COMPUTE_ENVIRONMENT_MAX_RESOURCE_REASON)
