"""AWS Batch's own rules, implemented once for the provider and the local engine (pure functions, no I/O).

- :func:`evaluate_on_exit`: which ``retryStrategy.evaluateOnExit`` rule decides a failed attempt.
- :func:`override_target`: which container of a job definition an ``eksPropertiesOverride`` entry changes.

.. seealso:: https://docs.aws.amazon.com/batch/latest/APIReference/API_EvaluateOnExit.html
.. seealso:: https://docs.aws.amazon.com/batch/latest/APIReference/API_EksContainerOverride.html
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

__all__ = ["pattern_matches", "rule_matches", "evaluate_on_exit", "override_target", "OVERRIDE_SECTIONS"]

OVERRIDE_SECTIONS = ("containers", "initContainers")


def pattern_matches(pattern: str, value: str | None) -> bool:
    """Match one Batch pattern: exact, or a prefix when it ends in ``*`` (``*`` alone matches anything,
    an absent value included)."""
    text = "" if value is None else value
    if pattern.endswith("*"):
        return text.startswith(pattern[:-1])
    return text == pattern


def rule_matches(
    rule: Mapping[str, Any], *, exit_code: int | None, status_reason: str | None, reason: str | None
) -> bool:
    """Whether every condition a wire rule gives (``onStatusReason``, ``onReason``, ``onExitCode``) matches.

    An attempt with no exit code (the pod never ran, the host was reclaimed) matches no ``onExitCode``
    pattern, not even ``*``; a rule with no condition matches nothing.
    """
    checks = []
    if rule.get("onStatusReason") is not None:
        checks.append(pattern_matches(str(rule["onStatusReason"]), status_reason))
    if rule.get("onReason") is not None:
        checks.append(pattern_matches(str(rule["onReason"]), reason))
    if rule.get("onExitCode") is not None:
        checks.append(exit_code is not None and pattern_matches(str(rule["onExitCode"]), str(exit_code)))
    return bool(checks) and all(checks)


def evaluate_on_exit(
    rules: Iterable[Mapping[str, Any]],
    *,
    exit_code: int | None,
    status_reason: str | None,
    reason: str | None,
) -> str | None:
    """The action (``"RETRY"`` or ``"EXIT"``) of the first matching rule, or ``None`` when none matches
    (Batch then retries while attempts remain)."""
    for rule in rules:
        if rule_matches(rule, exit_code=exit_code, status_reason=status_reason, reason=reason):
            return str(rule["action"]).upper()
    return None


def override_target(
    targets: Sequence[Mapping[str, Any]], change: Mapping[str, Any], index: int
) -> Mapping[str, Any] | None:
    """The container of ``targets`` (one section of the definition's pod) that override entry ``index``
    changes: the one with its ``name`` when it names one, else the one at the same position.

    ``None`` when there is none (a name no container has, or more entries than containers): Batch rejects
    such an override, so the engine raises and the provider's checks leave it to SubmitJob.
    """
    name = change.get("name")
    if name:
        return next((c for c in targets if c.get("name") == name), None)
    return targets[index] if index < len(targets) else None
