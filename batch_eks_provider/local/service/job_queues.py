"""Create/Update/Delete/DescribeJobQueues."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import ClientException
from ..store.models import JobQueue
from ..store.state import EngineState
from .pagination import describe_resources
from .validation import check_name, check_state, check_tags, existing, require

__all__ = ["create", "update", "delete", "describe", "to_wire", "MAX_CES_PER_QUEUE"]

MAX_CES_PER_QUEUE = 3
MAX_DESCRIBE = 100


def _check_order(state: EngineState, order: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not order:
        raise ClientException("computeEnvironmentOrder must list at least one compute environment.")
    if len(order) > MAX_CES_PER_QUEUE:
        raise ClientException(
            f"computeEnvironmentOrder has {len(order)} entries; a job queue can use at most {MAX_CES_PER_QUEUE} "
            "compute environments."
        )
    resolved = []
    for entry in order:
        require(entry, "computeEnvironment")
        ce = state.find_compute_environment(entry["computeEnvironment"])
        if ce is None or ce.status == "DELETING":
            raise ClientException(f"Compute environment {entry['computeEnvironment']!r} does not exist.")
        if ce.status == "INVALID":
            raise ClientException(
                f"Compute environment {ce.name!r} is INVALID ({ce.status_reason or 'no reason given'}); "
                "only a valid compute environment can be added to a job queue."
            )
        resolved.append({"order": int(entry.get("order", 0)), "computeEnvironment": ce.arn})
    orders = [e["order"] for e in resolved]
    if len(set(orders)) != len(orders):
        raise ClientException(f"computeEnvironmentOrder has two entries with the same order ({orders}).")
    arns = [e["computeEnvironment"] for e in resolved]
    if len(set(arns)) != len(arns):
        raise ClientException("computeEnvironmentOrder lists the same compute environment twice.")
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
    if arn:
        existing(state.scheduling_policies.get(arn), "Scheduling policy", arn)


def create(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    require(params, "jobQueueName", "priority", "computeEnvironmentOrder")
    name = check_name("jobQueueName", params["jobQueueName"])
    if name in state.job_queues:
        raise ClientException(f"Object already exists: job queue {name!r}.")
    check_tags(params.get("tags"))
    _check_policy(state, params.get("schedulingPolicyArn"))
    check_state(params.get("state"))
    if params.get("jobQueueType") not in (None, "EKS"):
        raise ClientException(
            f"Invalid jobQueueType {params['jobQueueType']!r}: a queue of EKS compute environments has type EKS."
        )
    if params.get("serviceEnvironmentOrder"):
        raise ClientException("serviceEnvironmentOrder is not supported by the local engine; use computeEnvironmentOrder.")
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
    return {"jobQueueName": name, "jobQueueArn": arn}


def find(state: EngineState, ref: str) -> JobQueue:
    return existing(state.find_queue(ref), "Job queue", ref)


def update(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    """Change state, priority, compute environments, policy or time limits; all checked before any change."""
    require(params, "jobQueue")
    queue = find(state, params["jobQueue"])
    new_state = check_state(params.get("state"))
    order = _check_order(state, params["computeEnvironmentOrder"]) if params.get("computeEnvironmentOrder") else None
    policy = params.get("schedulingPolicyArn")
    if policy:
        _check_policy(state, policy)
        if not queue.scheduling_policy_arn:
            raise ClientException(
                f"Cannot add scheduling policy {policy!r} to job queue {queue.name!r}: it was created without one "
                "(FIFO), and a FIFO queue cannot become a fair-share queue."
            )
    actions = params.get("jobStateTimeLimitActions")
    if actions is not None:
        actions = _check_time_limit_actions(actions)
    if new_state is not None:
        queue.state = new_state
    if params.get("priority") is not None:
        queue.spec["priority"] = int(params["priority"])
    if order is not None:
        queue.spec["computeEnvironmentOrder"] = order
    if policy:
        queue.spec["schedulingPolicyArn"] = policy
    if actions is not None:
        queue.spec["jobStateTimeLimitActions"] = actions
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
    return describe_resources(
        params,
        field="jobQueues",
        result_field="jobQueues",
        records=list(state.job_queues.values()),
        find=state.find_queue,
        to_wire=to_wire,
        key=lambda q: (q.name,),
        max_refs=MAX_DESCRIBE,
    )
