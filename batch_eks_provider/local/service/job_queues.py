"""Create/Update/Delete/DescribeJobQueues."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import ClientException
from ..models import JobQueue
from ..state import EngineState
from .pagination import paginate
from .validation import check_name, check_tags, require

__all__ = ["create", "update", "delete", "describe", "to_wire"]


def _check_order(state: EngineState, order: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not order:
        raise ClientException("computeEnvironmentOrder must list at least one compute environment.")
    if len(order) > 3:
        raise ClientException(f"computeEnvironmentOrder has {len(order)} entries; at most 3 are allowed.")
    resolved = []
    for entry in order:
        require(entry, "computeEnvironment")
        ce = state.find_compute_environment(entry["computeEnvironment"])
        if ce is None:
            raise ClientException(f"Compute environment {entry['computeEnvironment']!r} does not exist.")
        resolved.append({"order": int(entry.get("order", 0)), "computeEnvironment": ce.arn})
    if len({e["order"] for e in resolved}) != len(resolved):
        raise ClientException("computeEnvironmentOrder has two entries with the same order.")
    return resolved


def _check_time_limit_actions(actions: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    for i, action in enumerate(actions or []):
        where = f"jobStateTimeLimitActions[{i}]"
        require(action, "reason", "state", "maxTimeSeconds", "action")
        if action["state"] != "RUNNABLE" or action["action"] != "CANCEL":
            raise ClientException(f"Invalid {where}: only state RUNNABLE with action CANCEL is supported.")
        if not (600 <= int(action["maxTimeSeconds"]) <= 86400):
            raise ClientException(
                f"Invalid {where}.maxTimeSeconds {action['maxTimeSeconds']!r}: must be between 600 and 86400."
            )
    return list(actions or [])


def _check_policy(state: EngineState, arn: str | None) -> None:
    if arn and arn not in state.scheduling_policies:
        raise ClientException(f"Scheduling policy {arn!r} does not exist.")


def create(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    require(params, "jobQueueName", "priority", "computeEnvironmentOrder")
    name = check_name("jobQueueName", params["jobQueueName"])
    if name in state.job_queues:
        raise ClientException(f"Object already exists: job queue {name!r}.")
    check_tags(params.get("tags"))
    _check_policy(state, params.get("schedulingPolicyArn"))
    spec: dict[str, Any] = {
        "priority": int(params["priority"]),
        "computeEnvironmentOrder": _check_order(state, params["computeEnvironmentOrder"]),
        "jobStateTimeLimitActions": _check_time_limit_actions(params.get("jobStateTimeLimitActions")),
        "tags": params.get("tags") or {},
    }
    if params.get("schedulingPolicyArn"):
        spec["schedulingPolicyArn"] = params["schedulingPolicyArn"]
    arn = state.config.arn(f"job-queue/{name}")
    state.add(JobQueue(name=name, arn=arn, spec=spec, state=params.get("state") or "ENABLED"))
    state.tags[arn] = dict(spec["tags"])
    return {"jobQueueName": name, "jobQueueArn": arn}


def find(state: EngineState, ref: str) -> JobQueue:
    queue = state.find_queue(ref)
    if queue is None:
        raise ClientException(f"Job queue {ref!r} does not exist.")
    return queue


def update(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    require(params, "jobQueue")
    queue = find(state, params["jobQueue"])
    if params.get("state"):
        if params["state"] not in ("ENABLED", "DISABLED"):
            raise ClientException(f"Invalid state {params['state']!r}: must be ENABLED or DISABLED.")
        queue.state = params["state"]
    if params.get("priority") is not None:
        queue.spec["priority"] = int(params["priority"])
    if params.get("computeEnvironmentOrder"):
        queue.spec["computeEnvironmentOrder"] = _check_order(state, params["computeEnvironmentOrder"])
    if params.get("schedulingPolicyArn"):
        _check_policy(state, params["schedulingPolicyArn"])
        queue.spec["schedulingPolicyArn"] = params["schedulingPolicyArn"]
    if params.get("jobStateTimeLimitActions") is not None:
        queue.spec["jobStateTimeLimitActions"] = _check_time_limit_actions(params["jobStateTimeLimitActions"])
    state.touch(queue)
    return {"jobQueueName": queue.name, "jobQueueArn": queue.arn}


def delete(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    require(params, "jobQueue")
    queue = find(state, params["jobQueue"])
    if queue.state != "DISABLED":
        raise ClientException(f"Cannot delete job queue {queue.name!r}: it must be DISABLED first.")
    queue.status = "DELETING"
    state.touch(queue)
    return {}


def to_wire(queue: JobQueue, tags: dict[str, str] | None = None) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "jobQueueName": queue.name,
        "jobQueueArn": queue.arn,
        "state": queue.state,
        "status": queue.status,
        "jobQueueType": "EKS",
        **copy.deepcopy(queue.spec),
    }
    if queue.status_reason:
        wire["statusReason"] = queue.status_reason
    if tags is not None:
        wire["tags"] = dict(tags)
    return wire


def describe(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    queues = list(state.job_queues.values())
    refs = params.get("jobQueues") or []
    if refs:
        queues = [q for q in (state.find_queue(r) for r in refs) if q is not None]
    page, token = paginate(queues, params)
    body: dict[str, Any] = {"jobQueues": [to_wire(q, state.tags.get(q.arn)) for q in page]}
    if token:
        body["nextToken"] = token
    return body
