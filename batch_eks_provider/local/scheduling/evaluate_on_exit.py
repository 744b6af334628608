"""Batch's ``retryStrategy``: whether an ended attempt is retried.

The rule matching itself (``evaluateOnExit``: the first rule whose every given condition matches decides)
is :func:`batch_eks_provider.batch_rules.evaluate_on_exit`, the one the provider's ``RetryStrategy`` uses
too; no rule matching means RETRY while attempts remain.
"""

from __future__ import annotations

from typing import Any

from ...batch_rules import evaluate_on_exit

__all__ = ["should_retry"]


def should_retry(strategy: dict[str, Any] | None, attempts_made: int, *, status_reason: str | None, reason: str | None, exit_code: int | None) -> bool:
    if not strategy or attempts_made >= int(strategy.get("attempts", 1)):
        return False
    action = evaluate_on_exit(
        strategy.get("evaluateOnExit") or [], status_reason=status_reason, reason=reason, exit_code=exit_code
    )
    return action != "EXIT"
