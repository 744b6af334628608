"""DescribeJobs and ListJobs: how a job looks on the wire (JobDetail, JobSummary)."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import ClientException
from ..store.models import Job, JobStatus
from ..store.state import EngineState
from .job_queues import find as find_queue
from .pagination import paginate

__all__ = ["to_wire", "describe", "list_jobs", "MAX_DESCRIBE"]

MAX_DESCRIBE = 100
MAX_LIST_RESULTS = 1000  # ListJobs without a filter
MAX_FILTERED_RESULTS = 100  # ListJobs with a filter
FILTERS = ("JOB_NAME", "JOB_DEFINITION", "BEFORE_CREATED_AT", "AFTER_CREATED_AT", "SHARE_IDENTIFIER")


def _summary(state: EngineState, job: Job) -> dict[str, int]:
    return state.status_index.summary(job.job_id)  # kept by the scheduler's index: O(1), not O(children)


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
        "tags": dict(job.tags),
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
        # the pod's container names are lower-cased DNS labels ("Default" runs as "default")
        last = {str(c.get("name", "")).lower(): c for c in job.eks_attempts[-1].get("containers", [])}
        for container in pod.get("containers", []):
            result = last.get(container["name"].lower())
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
    if ids is None:
        raise ClientException("jobs is required.")
    if len(ids) > MAX_DESCRIBE:
        raise ClientException(f"Maximum number of jobs supported is {MAX_DESCRIBE}")
    return {"jobs": [to_wire(state, state.jobs[i]) for i in ids if i in state.jobs]}


def _created_at_filter_value(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ClientException(
            f"Invalid {name} filter value {value!r}: must be a time in milliseconds since the epoch, as a string."
        ) from None


def _matches_filter(state: EngineState, job: Job, name: str, value: str) -> bool:
    if name == "JOB_NAME":
        if value.endswith("*"):
            return job.job_name.lower().startswith(value[:-1].lower())
        return job.job_name.lower() == value.lower()
    if name == "JOB_DEFINITION":
        if value.startswith("arn:"):
            return job.job_definition_arn == value
        short = job.job_definition_arn.rsplit("/", 1)[-1]  # name:revision
        definition_name = short.rsplit(":", 1)[0]
        if value.endswith("*"):
            return definition_name.startswith(value[:-1])
        return value in (definition_name, short)
    if name == "BEFORE_CREATED_AT":
        return job.created_at < _created_at_filter_value(name, value)
    if name == "AFTER_CREATED_AT":
        return job.created_at > _created_at_filter_value(name, value)
    return job.share_identifier == value  # SHARE_IDENTIFIER


def _summary_wire(job: Job) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "jobArn": job.job_arn,
        "jobId": job.job_id,
        "jobName": job.job_name,
        "createdAt": job.created_at,
        "status": job.status,
        "jobDefinition": job.job_definition_arn,
    }
    optional = (
        ("statusReason", job.status_reason),
        ("startedAt", job.started_at),
        ("stoppedAt", job.stopped_at),
        ("shareIdentifier", job.share_identifier),
    )
    for key, value in optional:
        if value is not None:
            summary[key] = value
    if job.is_array_parent:
        summary["arrayProperties"] = {"size": job.array_size}
    elif job.array_index is not None:
        summary["arrayProperties"] = {"index": job.array_index}
    if job.is_cancelled:
        summary["isCancelled"] = True
    if job.is_terminated:
        summary["isTerminated"] = True
    return summary


def _position(job: Job) -> tuple[int, int, str]:
    """A job's place in every listing: creation time, array index (children of one array job share
    their creation time), then id (unique, so pages never overlap)."""
    return (job.created_at, -1 if job.array_index is None else job.array_index, job.job_id)


def _scope(state: EngineState, params: dict[str, Any], status: str | None) -> list[Job]:
    """The top-level jobs of ``jobQueue`` or the children of ``arrayJobId`` (in ``status`` when given).

    With a status, only that status's index entry is walked, not every job the engine holds.
    """
    if params.get("jobQueue"):
        queue_arn = find_queue(state, params["jobQueue"]).arn
        if status is None:
            candidates = state.jobs.values()
        else:
            candidates = (state.jobs[i] for i in state.status_index.by_status[status] if i in state.jobs)
        return [j for j in candidates if j.job_queue_arn == queue_arn and j.parent_id is None]
    if params.get("arrayJobId"):
        children = (state.jobs[c] for c in state.children.get(params["arrayJobId"], []) if c in state.jobs)
        return [j for j in children if status is None or j.status == status]
    return []  # the local engine runs no multi-node parallel jobs


def list_jobs(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    """ListJobs as AWS documents it.

    Exactly one of ``jobQueue``, ``arrayJobId``, ``multiNodeJobId``. Without ``jobStatus`` and without a
    filter only RUNNING jobs are listed. A filter (one at a time) ignores ``jobStatus``, except that
    ``SHARE_IDENTIFIER`` combines with it, and lists the newest jobs first; filters do not apply to the
    children of an array job.
    """
    scopes = [k for k in ("jobQueue", "arrayJobId", "multiNodeJobId") if params.get(k)]
    if len(scopes) != 1:
        given = ", ".join(scopes) or "none"
        raise ClientException(f"Exactly one of jobQueue, arrayJobId or multiNodeJobId must be given (given: {given}).")
    filters = params.get("filters") or []
    if len(filters) > 1:
        raise ClientException(f"filters lists {len(filters)} filters; only one filter can be used at a time.")
    for f in filters:
        if f.get("name") not in FILTERS:
            raise ClientException(f"Invalid filter name {f.get('name')!r}: must be one of {', '.join(FILTERS)}.")
        if not f.get("values"):
            raise ClientException(f"Filter {f['name']} must have a value.")
        if f["name"] in ("BEFORE_CREATED_AT", "AFTER_CREATED_AT"):
            _created_at_filter_value(f["name"], f["values"][0])
    status = params.get("jobStatus")
    if status is not None and status not in JobStatus.ALL:
        raise ClientException(f"Invalid jobStatus {status!r}: must be one of {', '.join(JobStatus.ALL)}.")
    if params.get("arrayJobId"):
        filters = []  # filters do not apply to the children of an array job
    wanted = status or JobStatus.RUNNING
    if filters:
        name, value = filters[0]["name"], filters[0]["values"][0]
        jobs = [j for j in _scope(state, params, None) if _matches_filter(state, j, name, value)]
        if name == "SHARE_IDENTIFIER" and status is not None:
            jobs = [j for j in jobs if j.status == status]
        jobs.sort(key=_position, reverse=True)  # newest first
        page, token = paginate(
            jobs, params, key=_position, default_max=MAX_FILTERED_RESULTS, limit=MAX_LIST_RESULTS,
            page_cap=MAX_FILTERED_RESULTS, descending=True,
        )
    else:
        jobs = sorted(_scope(state, params, wanted), key=_position)
        page, token = paginate(jobs, params, key=_position, default_max=MAX_LIST_RESULTS, limit=MAX_LIST_RESULTS)
    body: dict[str, Any] = {"jobSummaryList": [_summary_wire(job) for job in page]}
    if token:
        body["nextToken"] = token
    return body
