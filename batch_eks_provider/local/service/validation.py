"""Rules shared by several Batch operations, each raising ``ClientException`` with AWS's wording where
it is known and otherwise a message naming the field, the value and the rule."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from ..errors import ClientException

__all__ = [
    "require",
    "existing",
    "check_name",
    "check_state",
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
_STATES = ("ENABLED", "DISABLED")

T = TypeVar("T")


def require(params: dict[str, Any], *names: str) -> None:
    for name in names:
        if params.get(name) in (None, ""):
            raise ClientException(f"{name} is required and must not be empty.")


def existing(record: T | None, kind: str, ref: str) -> T:
    """``record``, looked up by ``ref``; None means that no ``kind`` (``"Job queue"``) of that name or ARN
    exists.

    :raises ClientException: ``<kind> '<ref>' does not exist.``
    """
    if record is None:
        raise ClientException(f"{kind} {ref!r} does not exist.")
    return record


def check_state(value: Any) -> str | None:
    """The ``state`` of a compute environment or job queue being created or updated: ENABLED, DISABLED,
    or None when not given."""
    if value is not None and value not in _STATES:
        raise ClientException(f"Invalid state {value!r}: must be ENABLED or DISABLED.")
    return value


def check_name(field: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ClientException(
            f"Invalid {field} {value!r}: up to 128 letters (uppercase and lowercase), numbers, hyphens and "
            "underscores are allowed, and the first character must be alphanumeric."
        )
    return value


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
