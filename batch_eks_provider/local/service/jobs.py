"""SubmitJob, DescribeJobs, ListJobs, TerminateJob, CancelJob."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any, Protocol

from ..errors import ClientException
from ..models import TERMINAL_STATUSES, Job, JobStatus
from ..state import EngineState
from .job_definitions import normalize_pod_properties
from .job_queues import find as find_queue
from .pagination import paginate
from .validation import check_env, check_name, check_retry_strategy, check_tags, check_timeout, require

__all__ = ["submit", "describe", "list_jobs", "terminate", "cancel", "to_wire", "JobStopper"]

MAX_PAYLOAD_BYTES = 30 * 1024
MAX_DESCRIBE = 100
MAX_DEPENDENCIES = 20


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
            if change.get("name"):
                matches = [c for c in targets if c["name"] == change["name"]]
                if not matches:
                    raise ClientException(
                        f"eksPropertiesOverride.podProperties.{section}[{i}].name {change['name']!r} does not "
                        f"match a container of the job definition ({', '.join(c['name'] for c in targets)})."
                    )
                target = matches[0]
            elif i < len(targets):
                target = targets[i]
            else:
                raise ClientException(
                    f"eksPropertiesOverride.podProperties.{section}[{i}] has no container to override."
                )
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
    return pod


def submit(state: EngineState, stopper: JobStopper, params: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(params)) > MAX_PAYLOAD_BYTES:
        raise ClientException("The SubmitJob request is larger than 30 KiB, the maximum payload size.")
    require(params, "jobName", "jobQueue", "jobDefinition")
    name = check_name("jobName", params["jobName"])
    queue = find_queue(state, params["jobQueue"])
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
    retry = params.get("retryStrategy") or definition.spec.get("retryStrategy")
    check_retry_strategy(retry)
    timeout = check_timeout(params.get("timeout")) or check_timeout(definition.spec.get("timeout"))
    tags = {**definition.spec.get("tags", {}), **(params.get("tags") or {})}
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
    state.tags[job.job_arn] = dict(tags)
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


def _summary(state: EngineState, job: Job) -> dict[str, int]:
    summary = {status: 0 for status in JobStatus.ALL}
    for child_id in state.children.get(job.job_id, []):
        summary[state.jobs[child_id].status] += 1
    return summary


def to_wire(state: EngineState, job: Job) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "jobArn": job.job_arn,
        "jobName": job.job_name,
        "jobId": job.job_id,
        "jobQueue": job.job_queue_arn,
        "status": job.status,
        "attempts": [],
        "createdAt": job.created_at,
        "dependsOn": copy.deepcopy(job.depends_on),
        "jobDefinition": job.job_definition_arn,
        "parameters": dict(job.parameters),
        "tags": dict(state.tags.get(job.job_arn, job.tags)),
        "platformCapabilities": [],
        "eksAttempts": copy.deepcopy(job.eks_attempts),
        "isCancelled": job.is_cancelled,
        "isTerminated": job.is_terminated,
    }
    pod = copy.deepcopy(job.pod_properties)
    if job.pod_name:
        pod["podName"] = job.pod_name
    if job.node_name:
        pod["nodeName"] = job.node_name
    if job.eks_attempts:
        last = {c.get("name"): c for c in job.eks_attempts[-1].get("containers", [])}
        for container in pod.get("containers", []):
            result = last.get(container["name"])
            if result and "exitCode" in result:
                container["exitCode"] = result["exitCode"]
            if result and result.get("reason"):
                container["reason"] = result["reason"]
    wire["eksProperties"] = {"podProperties": pod}
    if job.status_reason:
        wire["statusReason"] = job.status_reason
    if job.started_at is not None:
        wire["startedAt"] = job.started_at
    if job.stopped_at is not None:
        wire["stoppedAt"] = job.stopped_at
    if job.retry_strategy:
        wire["retryStrategy"] = copy.deepcopy(job.retry_strategy)
    if job.timeout_seconds:
        wire["timeout"] = {"attemptDurationSeconds": job.timeout_seconds}
    if job.share_identifier:
        wire["shareIdentifier"] = job.share_identifier
    if job.scheduling_priority is not None:
        wire["schedulingPriority"] = job.scheduling_priority
    if job.is_array_parent:
        wire["arrayProperties"] = {
            "size": job.array_size,
            "statusSummary": _summary(state, job),
            "statusSummaryLastUpdatedAt": state.clock.now_ms(),
        }
    elif job.array_index is not None:
        wire["arrayProperties"] = {"index": job.array_index}
    return wire


def describe(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    ids = params.get("jobs")
    if not ids:
        raise ClientException("jobs is required and must list at least one job id.")
    if len(ids) > MAX_DESCRIBE:
        raise ClientException(f"Maximum number of jobs supported is {MAX_DESCRIBE}")
    return {"jobs": [to_wire(state, state.jobs[i]) for i in ids if i in state.jobs]}


_FILTERS = ("JOB_NAME", "JOB_DEFINITION", "BEFORE_CREATED_AT", "AFTER_CREATED_AT", "SHARE_IDENTIFIER")


def _matches_filter(job: Job, name: str, value: str) -> bool:
    if name == "JOB_NAME":
        if value.endswith("*"):
            return job.job_name.lower().startswith(value[:-1].lower())
        return job.job_name.lower() == value.lower()
    if name == "JOB_DEFINITION":
        definition = job.job_definition_arn
        short = definition.rsplit("/", 1)[-1]
        if value.endswith("*"):
            return short.startswith(value[:-1]) or definition.startswith(value[:-1])
        return value in (definition, short, short.split(":")[0])
    if name == "BEFORE_CREATED_AT":
        return job.created_at < int(value)
    if name == "AFTER_CREATED_AT":
        return job.created_at > int(value)
    if name == "SHARE_IDENTIFIER":
        return job.share_identifier == value
    return False


def list_jobs(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    scopes = [k for k in ("jobQueue", "arrayJobId", "multiNodeJobId") if params.get(k)]
    if len(scopes) != 1:
        raise ClientException("Exactly one of jobQueue, arrayJobId or multiNodeJobId must be given.")
    filters = params.get("filters") or []
    if len(filters) > 1:
        raise ClientException("Only one filter can be given at a time.")
    for f in filters:
        if f.get("name") not in _FILTERS:
            raise ClientException(f"Invalid filter name {f.get('name')!r}: must be one of {', '.join(_FILTERS)}.")
        if not f.get("values"):
            raise ClientException(f"Filter {f['name']} must have a value.")
    status = params.get("jobStatus")
    if status is not None and status not in JobStatus.ALL:
        raise ClientException(f"Invalid jobStatus {status!r}: must be one of {', '.join(JobStatus.ALL)}.")
    if params.get("jobQueue"):
        queue = find_queue(state, params["jobQueue"])
        jobs = [j for j in state.jobs.values() if j.job_queue_arn == queue.arn and j.parent_id is None]
    elif params.get("arrayJobId"):
        jobs = [state.jobs[c] for c in state.children.get(params["arrayJobId"], [])]
    else:
        jobs = []
    if filters:
        f = filters[0]
        jobs = [j for j in jobs if _matches_filter(j, f["name"], f["values"][0])]
    elif status is not None:
        jobs = [j for j in jobs if j.status == status]
    else:
        jobs = [j for j in jobs if j.status == JobStatus.RUNNING]
    page, token = paginate(jobs, params)
    summaries = []
    for job in page:
        summary: dict[str, Any] = {
            "jobArn": job.job_arn,
            "jobId": job.job_id,
            "jobName": job.job_name,
            "createdAt": job.created_at,
            "status": job.status,
            "jobDefinition": job.job_definition_arn,
        }
        for key, value in (("statusReason", job.status_reason), ("startedAt", job.started_at), ("stoppedAt", job.stopped_at)):
            if value is not None:
                summary[key] = value
        if job.is_array_parent:
            summary["arrayProperties"] = {"size": job.array_size}
        elif job.array_index is not None:
            summary["arrayProperties"] = {"index": job.array_index}
        summaries.append(summary)
    body: dict[str, Any] = {"jobSummaryList": summaries}
    if token:
        body["nextToken"] = token
    return body


def _stop(state: EngineState, stopper: JobStopper, params: dict[str, Any], terminate: bool) -> dict[str, Any]:
    require(params, "jobId", "reason")
    job = state.jobs.get(params["jobId"])
    if job is None:
        raise ClientException(f"Job {params['jobId']!r} does not exist.")
    targets = [job] + [state.jobs[c] for c in state.children.get(job.job_id, [])]
    for target in targets:
        if target.status in TERMINAL_STATUSES:
            continue
        if not terminate and target.status in (JobStatus.STARTING, JobStatus.RUNNING):
            continue
        stopper.stop_job(target, params["reason"], terminate=terminate)
    stopper.wake()
    return {}


def terminate(state: EngineState, stopper: JobStopper, params: dict[str, Any]) -> dict[str, Any]:
    return _stop(state, stopper, params, terminate=True)


def cancel(state: EngineState, stopper: JobStopper, params: dict[str, Any]) -> dict[str, Any]:
    return _stop(state, stopper, params, terminate=False)
