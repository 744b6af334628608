"""batch_rules: evaluateOnExit matching and the override target, as AWS documents them."""

from __future__ import annotations

import pytest

from batch_eks_provider.batch_rules import evaluate_on_exit, override_target
from batch_eks_provider.retry_strategy import RetryStrategy


@pytest.mark.parametrize(
    "rules, attempt, action",
    [
        ([{"onExitCode": "13*", "action": "EXIT"}], dict(exit_code=137), "EXIT"),
        ([{"onExitCode": "13*", "action": "EXIT"}], dict(exit_code=2), None),
        # an attempt with no exit code (the host went away) matches no onExitCode pattern, not even "*"
        ([{"onExitCode": "*", "action": "EXIT"}], dict(exit_code=None, status_reason="Host EC2 (instance i-1) terminated."), None),
        ([{"onStatusReason": "Host EC2*", "action": "retry"}, {"onReason": "*", "action": "EXIT"}],
         dict(exit_code=None, status_reason="Host EC2 (instance i-1) terminated."), "RETRY"),
        ([{"onReason": "*", "action": "EXIT"}, {"onStatusReason": "Host EC2*", "action": "RETRY"}],
         dict(exit_code=1, reason=None), "EXIT"),  # first match wins; "*" matches an absent reason
        ([{"onExitCode": "1", "onReason": "OOM*", "action": "EXIT"}], dict(exit_code=1, reason="Error"), None),
    ],
)
def test_the_first_rule_whose_every_condition_matches_decides(rules, attempt, action):
    full = {"exit_code": None, "status_reason": None, "reason": None, **attempt}
    assert evaluate_on_exit(rules, **full) == action


def test_retry_strategy_reads_the_same_rules():
    strategy = RetryStrategy(3, [{"onExitCode": "3*", "action": "EXIT"}])
    assert strategy.action_for(exit_code=None, status_reason="Host EC2 (instance i-1) terminated.") == "RETRY"
    assert strategy.action_for(exit_code=3) == "EXIT"


def test_an_override_entry_targets_its_named_container_else_the_same_position():
    targets = [{"name": "main"}, {"name": "sidecar"}]
    assert override_target(targets, {"name": "sidecar"}, 0) is targets[1]
    assert override_target(targets, {}, 1) is targets[1]
    assert override_target(targets, {"name": "nope"}, 0) is None
    assert override_target(targets, {}, 2) is None
