"""Batch's ``retryStrategy.evaluateOnExit``: the first rule whose every given condition matches decides;
no rule matching means RETRY (while attempts remain)."""

from __future__ import annotations

from typing import Any

__all__ = ["pattern_matches", "evaluate_on_exit", "should_retry"]


def pattern_matches(pattern: str, value: str | None) -> bool:
    """Match a Batch pattern: exact, or a prefix when it ends in ``*`` (``*`` alone matches anything)."""
    if value is None:
        value = ""
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


def evaluate_on_exit(rules: list[dict[str, Any]], *, status_reason: str | None, reason: str | None, exit_code: int | None) -> str | None:
    """The action (``RETRY``/``EXIT``) of the first matching rule, or None when no rule matches."""
    for rule in rules:
        checks = []
        if rule.get("onStatusReason") is not None:
            checks.append(pattern_matches(rule["onStatusReason"], status_reason))
        if rule.get("onReason") is not None:
            checks.append(pattern_matches(rule["onReason"], reason))
        if rule.get("onExitCode") is not None:
            checks.append(exit_code is not None and pattern_matches(rule["onExitCode"], str(exit_code)))
        if checks and all(checks):
            return str(rule["action"]).upper()
    return None


def should_retry(strategy: dict[str, Any] | None, attempts_made: int, *, status_reason: str | None, reason: str | None, exit_code: int | None) -> bool:
    if not strategy or attempts_made >= int(strategy.get("attempts", 1)):
        return False
    action = evaluate_on_exit(
        strategy.get("evaluateOnExit") or [], status_reason=status_reason, reason=reason, exit_code=exit_code
    )
    return action != "EXIT"
