"""Create/Update/Delete/DescribeSchedulingPolicies and ListSchedulingPolicies (fair-share policies).

A queue with a scheduling policy schedules by share (``shareIdentifier``, ``weightFactor``,
``shareDecaySeconds``, ``computeReservation``); the scheduler reads the policy's ``fairsharePolicy``
from :attr:`SchedulingPolicy.spec <batch_eks_provider.local.store.models.SchedulingPolicy.spec>`.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from ..errors import ClientException
from ..store.models import SchedulingPolicy
from ..store.state import EngineState
from .pagination import check_reference_count, paginate
from .validation import check_name, check_tags, existing, require

__all__ = ["create", "update", "delete", "describe", "list_policies", "check_fairshare_policy", "to_wire"]

MAX_SHARE_DECAY_SECONDS = 604800
MAX_COMPUTE_RESERVATION = 99
MIN_WEIGHT, MAX_WEIGHT = 0.0001, 999.9999
MAX_DESCRIBE = 100
SHARE_IDENTIFIER_RE = re.compile(r"^[A-Za-z0-9]{1,255}\*?$")


def check_share_identifier(value: Any, where: str, *, allow_prefix: bool) -> str:
    """A share identifier: up to 255 alphanumeric characters, optionally (in a policy) ending in ``*``."""
    if not isinstance(value, str) or not SHARE_IDENTIFIER_RE.match(value) or (value.endswith("*") and not allow_prefix):
        rule = "up to 255 alphanumeric characters" + (", optionally followed by '*'" if allow_prefix else "")
        raise ClientException(f"Invalid {where} {value!r}: a share identifier is {rule}.")
    return value


def check_fairshare_policy(policy: Any) -> dict[str, Any]:
    """Validate a wire ``fairsharePolicy`` and return a copy of it."""
    if not isinstance(policy, dict):
        raise ClientException(f"Invalid fairsharePolicy {policy!r}: must be an object.")
    policy = copy.deepcopy(policy)
    decay = policy.get("shareDecaySeconds")
    if decay is not None and not (0 <= int(decay) <= MAX_SHARE_DECAY_SECONDS):
        raise ClientException(
            f"Invalid fairsharePolicy.shareDecaySeconds {decay!r}: must be between 0 and {MAX_SHARE_DECAY_SECONDS} "
            "(0 means the default window of 600 seconds)."
        )
    reservation = policy.get("computeReservation")
    if reservation is not None and not (0 <= int(reservation) <= MAX_COMPUTE_RESERVATION):
        raise ClientException(
            f"Invalid fairsharePolicy.computeReservation {reservation!r}: must be between 0 and {MAX_COMPUTE_RESERVATION}."
        )
    shares = policy.get("shareDistribution") or []
    seen: list[str] = []
    for i, share in enumerate(shares):
        where = f"fairsharePolicy.shareDistribution[{i}]"
        identifier = check_share_identifier(share.get("shareIdentifier"), f"{where}.shareIdentifier", allow_prefix=True)
        weight = share.get("weightFactor")
        if weight is not None and not (MIN_WEIGHT <= float(weight) <= MAX_WEIGHT):
            raise ClientException(
                f"Invalid {where}.weightFactor {weight!r}: must be between {MIN_WEIGHT} and {MAX_WEIGHT}."
            )
        for other in seen:
            if _overlaps(identifier, other):
                raise ClientException(
                    f"Invalid {where}.shareIdentifier {identifier!r}: it overlaps {other!r}; the share identifiers "
                    "of a policy must not overlap."
                )
        seen.append(identifier)
    return policy


def _overlaps(a: str, b: str) -> bool:
    """``UserA*`` overlaps ``UserA1`` and ``User*``; two plain identifiers overlap only when equal."""
    if a == b:
        return True
    for pattern, other in ((a, b), (b, a)):
        if pattern.endswith("*") and other.rstrip("*").startswith(pattern[:-1]):
            return True
    return False


def _check_policy_kind(params: dict[str, Any]) -> None:
    if params.get("quotaSharePolicy") is not None:
        raise ClientException(
            "quotaSharePolicy is not supported by the local engine: it applies to SageMaker Training service jobs; "
            "use fairsharePolicy."
        )


def create(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    require(params, "name")
    name = check_name("name", params["name"])
    arn = state.config.arn(f"scheduling-policy/{name}")
    if arn in state.scheduling_policies:
        raise ClientException(f"Object already exists: scheduling policy {name!r} ({arn}).")
    _check_policy_kind(params)
    check_tags(params.get("tags"))
    spec: dict[str, Any] = {
        "fairsharePolicy": check_fairshare_policy(params.get("fairsharePolicy") or {}),
        "tags": dict(params.get("tags") or {}),
    }
    state.add(SchedulingPolicy(name=name, arn=arn, spec=spec))
    return {"name": name, "arn": arn}


def find(state: EngineState, arn: str) -> SchedulingPolicy:
    return existing(state.scheduling_policies.get(arn), "Scheduling policy", arn)


def update(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    require(params, "arn")
    policy = find(state, params["arn"])
    _check_policy_kind(params)
    if params.get("fairsharePolicy") is not None:
        policy.spec["fairsharePolicy"] = check_fairshare_policy(params["fairsharePolicy"])
        state.touch(policy)
    return {}


def delete(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    require(params, "arn")
    policy = find(state, params["arn"])
    users = sorted(q.name for q in state.job_queues.values() if q.scheduling_policy_arn == policy.arn)
    if users:
        raise ClientException(
            f"Cannot delete scheduling policy {policy.name!r}: it is used by job queue(s) {', '.join(users)}."
        )
    state.remove(policy)
    return {}


def to_wire(policy: SchedulingPolicy) -> dict[str, Any]:
    wire: dict[str, Any] = {"name": policy.name, "arn": policy.arn}
    if policy.spec.get("fairsharePolicy"):
        wire["fairsharePolicy"] = copy.deepcopy(policy.spec["fairsharePolicy"])
    wire["tags"] = dict(policy.spec.get("tags") or {})
    return wire


def describe(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    arns = params.get("arns") or []
    if not arns:
        raise ClientException("arns is required and must list at least one scheduling policy ARN.")
    check_reference_count(arns, "arns", MAX_DESCRIBE)
    found = [state.scheduling_policies[a] for a in dict.fromkeys(arns) if a in state.scheduling_policies]
    return {"schedulingPolicies": [to_wire(p) for p in found]}


def list_policies(state: EngineState, params: dict[str, Any]) -> dict[str, Any]:
    policies = sorted(state.scheduling_policies.values(), key=lambda p: p.arn)
    page, token = paginate(policies, params, key=lambda p: (p.arn,), default_max=100, limit=100)
    body: dict[str, Any] = {"schedulingPolicies": [{"arn": p.arn} for p in page]}
    if token:
        body["nextToken"] = token
    return body
