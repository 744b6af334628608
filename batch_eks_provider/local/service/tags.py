"""TagResource, UntagResource and ListTagsForResource (``/v1/tags/{resourceArn}``).

Compute environments, job queues, job definitions, scheduling policies and jobs take tags; child jobs
of an array job do not, as in AWS. Tags live on the record (``spec["tags"]``, or ``Job.tags``) so they
persist with it and survive a restart (the record is the only copy).
"""

from __future__ import annotations

from typing import Any

from ..errors import ClientException
from ..store.models import Job
from ..store.state import EngineState
from .validation import MAX_TAGS, check_tags, require

__all__ = ["tag_resource", "untag_resource", "list_tags", "find_taggable"]


def find_taggable(state: EngineState, arn: str) -> Any:
    """The record an ARN names, or a ``ClientException`` naming the ARN and why it cannot be tagged."""
    prefix = state.config.arn("")
    if not isinstance(arn, str) or not arn.startswith(prefix) or "/" not in arn:
        raise ClientException(
            f"Invalid resourceArn {arn!r}: not an AWS Batch resource ARN of this engine (expected {prefix}<type>/<name>)."
        )
    kind, _, name = arn[len(prefix):].partition("/")
    record: Any = None
    if kind == "compute-environment":
        record = state.compute_environments.get(name)
    elif kind == "job-queue":
        record = state.job_queues.get(name)
    elif kind == "job-definition":
        record = state.job_definitions.get(arn)
    elif kind == "scheduling-policy":
        record = state.scheduling_policies.get(arn)
    elif kind == "job":
        if ":" in name or "#" in name:
            raise ClientException(f"Invalid resourceArn {arn!r}: child jobs of array and multi-node jobs cannot be tagged.")
        record = state.jobs.get(name)
    else:
        raise ClientException(
            f"Invalid resourceArn {arn!r}: {kind!r} resources cannot be tagged; compute environments, jobs, "
            "job definitions, job queues and scheduling policies can."
        )
    if record is None or getattr(record, "status", None) == "DELETING":
        raise ClientException(f"Resource {arn!r} does not exist.")
    return record


def _tags_of(record: Any) -> dict[str, str]:
    if isinstance(record, Job):
        return record.tags
    return record.spec.setdefault("tags", {})


def _set_tags(state: EngineState, arn: str, record: Any, tags: dict[str, str]) -> None:
    if isinstance(record, Job):
        record.tags = tags
    else:
        record.spec["tags"] = tags
    state.touch(record)


def tag_resource(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    require(params, "resourceArn")
    arn = params["resourceArn"]
    record = find_taggable(state, arn)
    new = params.get("tags")
    if not new:
        raise ClientException("tags is required and must hold at least one tag.")
    check_tags(new)
    merged = {**_tags_of(record), **new}
    if len(merged) > MAX_TAGS:
        raise ClientException(
            f"Too many tags on {arn}: {len(merged)} after this request, at most {MAX_TAGS} are allowed per resource."
        )
    _set_tags(state, arn, record, merged)
    return {}


def untag_resource(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    require(params, "resourceArn")
    arn = params["resourceArn"]
    record = find_taggable(state, arn)
    keys = params.get("tagKeys") or []
    if not keys:
        raise ClientException("tagKeys is required and must name at least one tag key.")
    remaining = {k: v for k, v in _tags_of(record).items() if k not in set(keys)}
    _set_tags(state, arn, record, remaining)
    return {}


def list_tags(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    require(params, "resourceArn")
    record = find_taggable(state, params["resourceArn"])
    return {"tags": dict(_tags_of(record))}
