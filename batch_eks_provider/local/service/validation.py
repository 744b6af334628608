"""Rules shared by several Batch operations, each raising ``ClientException`` with AWS's wording where
it is known and otherwise a message naming the field, the value and the rule."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import ClientException

__all__ = [
    "require",
    "check_name",
    "parse_cpu",
    "parse_memory_mib",
    "parse_gpu",
    "normalize_container_resources",
    "container_requests",
    "pod_requests",
    "check_env",
    "check_tags",
    "check_retry_strategy",
    "check_timeout",
    "check_namespace",
    "NAMESPACE_RE",
    "MAX_TAGS",
]

MAX_TAGS = 50
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_EXIT_CODE_RE = re.compile(r"^[0-9]+\*?$")
_PATTERN_RE = re.compile(r"^[A-Za-z0-9 .:()_/\-\[\]]*\*?$")


def require(params: dict[str, Any], *names: str) -> None:
    for name in names:
        if params.get(name) in (None, ""):
            raise ClientException(f"{name} is required and must not be empty.")


def check_name(field: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ClientException(
            f"Invalid {field} {value!r}: up to 128 letters (uppercase and lowercase), numbers, hyphens and "
            "underscores are allowed, and the first character must be alphanumeric."
        )
    return value


def parse_cpu(value: Any, where: str) -> Decimal:
    """EKS cpu: whole numbers or multiples of 0.25, at least 0.25; millicores are rejected."""
    text = str(value).strip()
    if text.endswith("m"):
        raise ClientException(
            f"Invalid cpu value {text!r} in {where}: AWS Batch on EKS does not accept millicpu; "
            "use whole vCPUs or multiples of 0.25 (e.g. '0.25', '1')."
        )
    try:
        cpu = Decimal(text)
    except InvalidOperation:
        raise ClientException(f"Invalid cpu value {text!r} in {where}: not a number.") from None
    if cpu < Decimal("0.25") or (cpu * 4) % 1 != 0:
        raise ClientException(
            f"Invalid cpu value {text!r} in {where}: cpu must be at least 0.25 and a multiple of 0.25."
        )
    return cpu


def parse_memory_mib(value: Any, where: str) -> int:
    """EKS memory: whole MiB written with the ``Mi`` suffix, at least 4."""
    text = str(value).strip()
    if not text.endswith("Mi") or not text[:-2].isdigit():
        raise ClientException(
            f"Invalid memory value {text!r} in {where}: memory must be a whole number of MiB with the "
            "'Mi' suffix (e.g. '1024Mi')."
        )
    mib = int(text[:-2])
    if mib < 4:
        raise ClientException(f"Invalid memory value {text!r} in {where}: memory must be at least 4Mi.")
    return mib


def parse_gpu(value: Any, where: str) -> int:
    text = str(value).strip()
    if not text.isdigit():
        raise ClientException(f"Invalid nvidia.com/gpu value {text!r} in {where}: must be a whole number.")
    return int(text)


def normalize_container_resources(resources: dict[str, Any] | None, where: str) -> dict[str, Any]:
    """Apply Batch's EKS resource rules and return ``{"limits": ..., "requests": ...}`` as the pod gets them.

    A missing request is copied from its limit; memory and GPU requests must equal their limits; a cpu
    request may not exceed its limit; at least one cpu and one memory value must be present.
    """
    resources = resources or {}
    limits = dict(resources.get("limits") or {})
    requests = dict(resources.get("requests") or {})
    for section_name, section in (("limits", limits), ("requests", requests)):
        for key, value in section.items():
            if key == "cpu":
                parse_cpu(value, f"{where}.resources.{section_name}")
            elif key == "memory":
                parse_memory_mib(value, f"{where}.resources.{section_name}")
            elif key == "nvidia.com/gpu":
                parse_gpu(value, f"{where}.resources.{section_name}")
            else:
                raise ClientException(
                    f"Invalid resource {key!r} in {where}.resources.{section_name}: only cpu, memory and "
                    "nvidia.com/gpu are supported."
                )
    if "cpu" not in limits and "cpu" not in requests:
        raise ClientException(f"Container {where} must specify a cpu value in resources limits or requests.")
    if "memory" not in limits and "memory" not in requests:
        raise ClientException(f"Container {where} must specify a memory value in resources limits or requests.")
    for key in ("memory", "nvidia.com/gpu"):
        if key in limits and key in requests and str(limits[key]) != str(requests[key]):
            raise ClientException(
                f"Invalid {key} in {where}: requests ({requests[key]!r}) must equal limits ({limits[key]!r})."
            )
    if "cpu" in limits and "cpu" in requests:
        if parse_cpu(requests["cpu"], where) > parse_cpu(limits["cpu"], where):
            raise ClientException(
                f"Invalid cpu in {where}: requests ({requests['cpu']!r}) must not exceed limits ({limits['cpu']!r})."
            )
    for key, value in limits.items():
        requests.setdefault(key, value)
    for key in ("memory", "nvidia.com/gpu"):
        if key in requests:
            limits.setdefault(key, requests[key])
    return {"limits": limits, "requests": requests}


def container_requests(container: dict[str, Any]) -> tuple[Decimal, int, int]:
    requests = (container.get("resources") or {}).get("requests") or {}
    cpu = parse_cpu(requests["cpu"], "container") if "cpu" in requests else Decimal(0)
    mem = parse_memory_mib(requests["memory"], "container") if "memory" in requests else 0
    gpu = parse_gpu(requests["nvidia.com/gpu"], "container") if "nvidia.com/gpu" in requests else 0
    return cpu, mem, gpu


def pod_requests(pod_properties: dict[str, Any]) -> tuple[float, int, int]:
    """What a pod asks of its node: the sum over containers, or the largest init container if larger."""
    cpu, mem, gpu = Decimal(0), 0, 0
    for container in pod_properties.get("containers", []):
        c, m, g = container_requests(container)
        cpu, mem, gpu = cpu + c, mem + m, gpu + g
    for container in pod_properties.get("initContainers", []):
        c, m, g = container_requests(container)
        cpu, mem, gpu = max(cpu, c), max(mem, m), max(gpu, g)
    return float(cpu), mem, gpu


def check_env(env: list[dict[str, Any]] | None, where: str) -> None:
    for var in env or []:
        name = var.get("name", "")
        if not name:
            raise ClientException(f"Environment variable in {where} is missing its name.")
        if "=" in name or "\x00" in name:
            raise ClientException(
                f"Invalid environment variable name {name!r} in {where}: a name cannot contain '=' or a NUL character."
            )
        if name.startswith("AWS_BATCH"):
            raise ClientException(
                f"Invalid environment variable name {name!r} in {where}: names starting with 'AWS_BATCH' are "
                "reserved for variables that AWS Batch sets."
            )


def check_tags(tags: dict[str, Any] | None) -> None:
    """At most 50 tags; keys 1..128 characters not starting with ``aws:``; values up to 256 characters."""
    if not tags:
        return
    if len(tags) > MAX_TAGS:
        raise ClientException(f"Too many tags: {len(tags)} given, at most {MAX_TAGS} are allowed per resource.")
    for key, value in tags.items():
        if not 1 <= len(key) <= MAX_TAG_KEY_LENGTH:
            raise ClientException(f"Invalid tag key {key!r}: must be 1 to {MAX_TAG_KEY_LENGTH} characters.")
        if key.lower().startswith("aws:"):
            raise ClientException(f"Invalid tag key {key!r}: the 'aws:' prefix is reserved for AWS use.")
        if len(str(value)) > MAX_TAG_VALUE_LENGTH:
            raise ClientException(
                f"Invalid value for tag {key!r}: {len(str(value))} characters, at most {MAX_TAG_VALUE_LENGTH} are allowed."
            )


def check_namespace(value: Any, where: str) -> str:
    """A Kubernetes namespace Batch can use: DNS label, under 64 characters, not ``default`` nor ``kube-*``."""
    if (
        not isinstance(value, str)
        or not NAMESPACE_RE.match(value)
        or len(value) >= 64
        or value == "default"
        or value.startswith("kube-")
    ):
        raise ClientException(
            f"Invalid {where} {value!r}: a namespace must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$, be 1 to 63 "
            "characters, and must not be 'default' or start with 'kube-'."
        )
    return value


def check_retry_strategy(strategy: dict[str, Any] | None) -> dict[str, Any] | None:
    """Validate a retryStrategy; return a copy with its actions in upper case (AWS reads them in any case)."""
    if not strategy:
        return strategy
    attempts = strategy.get("attempts")
    if strategy.get("evaluateOnExit") and attempts is None:
        raise ClientException("retryStrategy.attempts is required when retryStrategy.evaluateOnExit is given.")
    if attempts is not None and not (1 <= int(attempts) <= 10):
        raise ClientException(f"Invalid retryStrategy.attempts {attempts!r}: must be between 1 and 10.")
    rules = strategy.get("evaluateOnExit") or []
    if len(rules) > 5:
        raise ClientException(f"Too many evaluateOnExit rules: {len(rules)} given, at most 5 are allowed.")
    for i, rule in enumerate(rules):
        where = f"retryStrategy.evaluateOnExit[{i}]"
        action = str(rule.get("action", "")).upper()
        if action not in ("RETRY", "EXIT"):
            raise ClientException(f"Invalid {where}.action {rule.get('action')!r}: must be RETRY or EXIT.")
        for key in ("onStatusReason", "onReason", "onExitCode"):
            pattern = rule.get(key)
            if pattern is None:
                continue
            if not (1 <= len(pattern) <= 512):
                raise ClientException(f"Invalid {where}.{key} {pattern!r}: must be 1 to 512 characters.")
            if "*" in pattern[:-1]:
                raise ClientException(
                    f"Invalid {where}.{key} {pattern!r}: the only wildcard allowed is a trailing '*'."
                )
            if key == "onExitCode" and not _EXIT_CODE_RE.match(pattern):
                raise ClientException(
                    f"Invalid {where}.onExitCode {pattern!r}: must contain only digits, optionally ending in '*'."
                )
            if key != "onExitCode" and not _PATTERN_RE.match(pattern):
                raise ClientException(
                    f"Invalid {where}.{key} {pattern!r}: may contain letters, numbers, periods, colons, "
                    "white space and a trailing '*'."
                )
    return {
        **strategy,
        **({"evaluateOnExit": [{**rule, "action": str(rule["action"]).upper()} for rule in rules]} if rules else {}),
    }


def check_timeout(timeout: dict[str, Any] | None) -> int | None:
    if not timeout or timeout.get("attemptDurationSeconds") is None:
        return None
    seconds = int(timeout["attemptDurationSeconds"])
    if seconds < 60:
        raise ClientException(
            f"Invalid timeout.attemptDurationSeconds {seconds}: the minimum timeout is 60 seconds."
        )
    return seconds
