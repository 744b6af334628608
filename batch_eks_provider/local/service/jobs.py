"""SubmitJob, DescribeJobs, ListJobs, TerminateJob, CancelJob."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any, Protocol

from ...batch_rules import override_target
from ..errors import ClientException
from ..store.models import TERMINAL_STATUSES, Job, JobStatus
from ..store.state import EngineState
from .job_definitions import normalize_pod_properties
from .job_queues import find as find_queue
from .job_views import describe, list_jobs, to_wire
from .scheduling_policies import check_share_identifier
from .validation import check_env, check_name, check_retry_strategy, check_tags, check_timeout, existing, require

__all__ = [
    "submit",
    "describe",
    "list_jobs",
    "terminate",
    "cancel",
    "terminate_many",
    "cancel_many",
    "to_wire",
    "JobStopper",
]

MAX_PAYLOAD_BYTES = 30 * 1024
MAX_DEPENDENCIES = 20
MAX_BULK_STOP = 50
MAX_REASON_LENGTH = 1024


class JobStopper(Protocol):
    """What the service needs from the scheduler to stop work that is under way."""

    def stop_job(self, job: Job, reason: str, *, terminate: bool) -> None: ...

    def wake(self) -> None: ...


def _merge_overrides(pod: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    pod = copy.deepcopy(pod)
    if not override:
        return pod
    for section in ("containers", "initContainers"):
        for i, change in enumerate(override.get(section) or []):
            targets = pod.get(section) or []
            target = override_target(targets, change, i)
            if target is None and change.get("name"):
                raise ClientException(
                    f"eksPropertiesOverride.podProperties.{section}[{i}].name {change['name']!r} does not "
                    f"match a container of the job definition ({', '.join(c['name'] for c in targets)})."
                )
            if target is None:
                raise ClientException(f"eksPropertiesOverride.podProperties.{section}[{i}] has no container to override.")
            for key in ("image", "command", "args"):
                if change.get(key) is not None:
                    target[key] = list(change[key]) if key != "image" else change[key]
            if change.get("env") is not None:
                env = {e["name"]: e for e in target.get("env") or []}
                for var in change["env"]:
                    env[var["name"]] = var
                target["env"] = list(env.values())
            if change.get("resources") is not None:
                target["resources"] = change["resources"]
    metadata = override.get("metadata")
    if metadata:
        merged = pod.setdefault("metadata", {})
        for key in ("labels", "annotations"):
            if metadata.get(key):
                merged.setdefault(key, {}).update(metadata[key])
        if metadata.get("namespace") is not None:
            merged["namespace"] = metadata["namespace"]
    return pod


def submit(state: EngineState, stopper: JobStopper, params: dict[str, Any]) -> dict[str, Any]:
    size_bytes = len(json.dumps(params, separators=(",", ":")).encode())
    if size_bytes > MAX_PAYLOAD_BYTES:
        raise ClientException(
            f"The SubmitJob request is {size_bytes} bytes; the maximum payload size is 30 KiB ({MAX_PAYLOAD_BYTES} bytes)."
        )
    require(params, "jobName", "jobQueue", "jobDefinition")
    name = check_name("jobName", params["jobName"])
    queue = find_queue(state, params["jobQueue"])
    if queue.state != "ENABLED" or queue.status == "DELETING":
        raise ClientException(
            f"Job queue {queue.name!r} is {queue.state if queue.status != 'DELETING' else 'being deleted'}: "
            "a queue that is not ENABLED accepts no new jobs."
        )
    definition = state.find_job_definition(params["jobDefinition"])
    if definition is None or definition.status != "ACTIVE":
        raise ClientException(f"Job definition {params['jobDefinition']!r} does not exist or is not ACTIVE.")
    for key in ("containerOverrides", "nodeOverrides", "ecsPropertiesOverride"):
        if params.get(key):
            raise ClientException(f"{key} cannot be used with an EKS job definition; use eksPropertiesOverride.")
    if params.get("propagateTags"):
        raise ClientException("propagateTags is not supported for jobs that run on EKS.")
    override = (params.get("eksPropertiesOverride") or {}).get("podProperties")
    for section in ("containers", "initContainers"):
        for i, change in enumerate((override or {}).get(section) or []):
            check_env(change.get("env"), f"eksPropertiesOverride.podProperties.{section}[{i}]")
    pod = normalize_pod_properties(
        _merge_overrides(definition.spec["eksProperties"]["podProperties"], override), "eksPropertiesOverride.podProperties"
    )
    retry = check_retry_strategy(params.get("retryStrategy") or definition.spec.get("retryStrategy"))
    timeout = check_timeout(params.get("timeout")) or check_timeout(definition.spec.get("timeout"))
    tags = dict(params.get("tags") or {})  # a job's tags are the ones SubmitJob gives, not its definition's
    check_tags(tags)
    policy = queue.scheduling_policy_arn
    share = params.get("shareIdentifier")
    if policy and not share:
        raise ClientException(
            f"shareIdentifier is required: job queue {queue.name!r} has a fair-share scheduling policy."
        )
    if share and not policy:
        raise ClientException(
            f"shareIdentifier {share!r} cannot be used: job queue {queue.name!r} has no fair-share scheduling policy."
        )
    if share:
        check_share_identifier(share, "shareIdentifier", allow_prefix=True)
    priority = params.get("schedulingPriorityOverride")
    if priority is not None and not (0 <= int(priority) <= 9999):
        raise ClientException(f"Invalid schedulingPriorityOverride {priority!r}: must be between 0 and 9999.")
    if priority is None:
        priority = definition.spec.get("schedulingPriority")
    depends_on = _check_depends_on(state, params.get("dependsOn") or [], params.get("arrayProperties"))
    size = (params.get("arrayProperties") or {}).get("size")
    if size is not None and not (2 <= int(size) <= 10000):
        raise ClientException(f"Invalid arrayProperties.size {size!r}: must be between 2 and 10000.")
    job_id = str(uuid.uuid4())
    now_ms = state.clock.now_ms()
    job = Job(
        job_id=job_id,
        job_name=name,
        job_arn=state.config.arn(f"job/{job_id}"),
        job_queue_arn=queue.arn,
        job_definition_arn=definition.arn,
        status=JobStatus.SUBMITTED,
        created_at=now_ms,
        pod_properties=pod,
        depends_on=depends_on,
        retry_strategy=retry,
        timeout_seconds=timeout,
        share_identifier=share,
        scheduling_priority=int(priority) if priority is not None else (0 if policy else None),
        tags=tags,
        parameters={**definition.spec.get("parameters", {}), **(params.get("parameters") or {})},
        array_size=int(size) if size is not None else None,
        status_history=[(JobStatus.SUBMITTED, now_ms)],
    )
    state.add(job)
    if job.array_size:
        for index in range(job.array_size):
            child = copy.copy(job)
            child.job_id = f"{job_id}:{index}"
            child.job_arn = state.config.arn(f"job/{job_id}:{index}")
            child.array_index = index
            child.parent_id = job_id
            child.depends_on = []
            child.tags = dict(tags)
            child.eks_attempts = []
            child.status_history = [(JobStatus.SUBMITTED, now_ms)]
            state.add(child)
    stopper.wake()
    return {"jobArn": job.job_arn, "jobName": name, "jobId": job_id}


def _check_depends_on(state: EngineState, deps: list[dict[str, Any]], array: dict[str, Any] | None) -> list[dict[str, Any]]:
    if len(deps) > MAX_DEPENDENCIES:
        raise ClientException(f"dependsOn has {len(deps)} entries; a job can depend on at most {MAX_DEPENDENCIES} jobs.")
    checked = []
    for i, dep in enumerate(deps):
        dep_type = dep.get("type")
        if dep_type is not None and dep_type not in ("N_TO_N", "SEQUENTIAL"):
            raise ClientException(f"Invalid dependsOn[{i}].type {dep_type!r}: must be N_TO_N or SEQUENTIAL.")
        job_id = dep.get("jobId")
        if dep_type == "SEQUENTIAL" and not job_id:
            if not array:
                raise ClientException(f"dependsOn[{i}]: a SEQUENTIAL dependency without jobId needs arrayProperties.")
            checked.append({"type": "SEQUENTIAL"})
            continue
        if not job_id:
            raise ClientException(f"dependsOn[{i}].jobId is required.")
        target = state.jobs.get(job_id)
        if target is None:
            raise ClientException(f"dependsOn[{i}].jobId {job_id!r}: job does not exist.")
        if dep_type == "N_TO_N":
            if not array or not target.is_array_parent:
                raise ClientException(
                    f"dependsOn[{i}]: an N_TO_N dependency needs both this job and job {job_id} to be array jobs."
                )
            if int(array.get("size", 0)) != target.array_size:
                raise ClientException(
                    f"dependsOn[{i}]: N_TO_N array jobs must have the same size ({array.get('size')} != {target.array_size})."
                )
        entry = {"jobId": job_id}
        if dep_type:
            entry["type"] = dep_type
        checked.append(entry)
    return checked


def _check_reason(params: dict[str, Any]) -> str:
    reason = params.get("reason")
    if reason is None or reason == "":
        raise ClientException("reason is required and must not be empty.")
    if len(reason) > MAX_REASON_LENGTH:
        raise ClientException(f"Invalid reason: {len(reason)} characters, at most {MAX_REASON_LENGTH} are allowed.")
    return reason


def _stop_one(state: EngineState, stopper: JobStopper, job: Job, reason: str, terminate: bool) -> None:
    """Cancel (SUBMITTED/PENDING/RUNNABLE) or terminate (any state before terminal) a job and its children."""
    targets = [job] + [state.jobs[c] for c in state.children.get(job.job_id, [])]
    for target in targets:
        if target.status in TERMINAL_STATUSES:
            continue
        if not terminate and target.status in (JobStatus.STARTING, JobStatus.RUNNING):
            continue
        stopper.stop_job(target, reason, terminate=terminate)


def _stop(state: EngineState, stopper: JobStopper, params: dict[str, Any], terminate: bool) -> dict[str, Any]:
    require(params, "jobId")
    reason = _check_reason(params)
    job = existing(state.jobs.get(params["jobId"]), "Job", params["jobId"])
    _stop_one(state, stopper, job, reason, terminate)
    stopper.wake()
    return {}


def _stop_many(state: EngineState, stopper: JobStopper, params: dict[str, Any], terminate: bool) -> dict[str, Any]:
    """TerminateJobs / CancelJobs: up to 50 ids; unknown ids count as done, as AWS documents."""
    ids = params.get("jobs")
    if not ids:
        raise ClientException("jobs is required and must list at least one job id.")
    if len(ids) > MAX_BULK_STOP:
        raise ClientException(f"jobs lists {len(ids)} job ids; at most {MAX_BULK_STOP} are allowed per request.")
    reason = _check_reason(params)
    successful: list[str] = []
    errors: list[dict[str, str]] = []
    for job_id in dict.fromkeys(ids):
        if not job_id:
            errors.append({"job": job_id, "code": "ValidationException", "message": "A job id must not be empty."})
            continue
        job = state.jobs.get(job_id)
        if job is not None:
            _stop_one(state, stopper, job, reason, terminate)
        successful.append(job_id)
    stopper.wake()
    return {"successful": successful, "errors": errors}


def terminate(state: EngineState, stopper: JobStopper, params: dict[str, Any]) -> dict[str, Any]:
    return _stop(state, stopper, params, terminate=True)


def cancel(state: EngineState, stopper: JobStopper, params: dict[str, Any]) -> dict[str, Any]:
    return _stop(state, stopper, params, terminate=False)


def terminate_many(state: EngineState, stopper: JobStopper, params: dict[str, Any]) -> dict[str, Any]:
    return _stop_many(state, stopper, params, terminate=True)


def cancel_many(state: EngineState, stopper: JobStopper, params: dict[str, Any]) -> dict[str, Any]:
    return _stop_many(state, stopper, params, terminate=False)
