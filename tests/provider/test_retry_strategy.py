"""RetryStrategy: presets give AWS's wire rules, limits are checked before any call, Batch honours what we send."""

from __future__ import annotations

import pytest

from batch_eks_provider.exceptions import BatchEksInvalidInputError
from batch_eks_provider.retry_strategy import RetryRule, RetryStrategy
from tests.support.waits import wait_for_job

SPOT_ONLY_WIRE = [{"onStatusReason": "Host EC2*", "action": "RETRY"}, {"onReason": "*", "action": "EXIT"}]


def test_spot_only_is_exactly_the_rules_aws_recommends():
    assert RetryStrategy.spot_only(3).to_api() == {"attempts": 3, "evaluateOnExit": SPOT_ONLY_WIRE}


def test_presets_build_their_wire_rules():
    assert RetryStrategy.always(4).to_api() == {"attempts": 4}
    assert RetryStrategy.on_exit_codes([137, "143"], 2).to_api() == {
        "attempts": 2,
        "evaluateOnExit": [
            {"onExitCode": "137", "action": "RETRY"},
            {"onExitCode": "143", "action": "RETRY"},
            {"onReason": "*", "action": "EXIT"},
        ],
    }
    assert RetryStrategy.on_exit_codes([1], 2, exit_on_others=False).to_api() == {
        "attempts": 2,
        "evaluateOnExit": [{"onExitCode": "1", "action": "RETRY"}],
    }
    assert RetryStrategy.spot_and_exit_codes([137], 5).to_api()["evaluateOnExit"] == [
        {"onStatusReason": "Host EC2*", "action": "RETRY"},
        {"onExitCode": "137", "action": "RETRY"},
        {"onReason": "*", "action": "EXIT"},
    ]
    assert RetryStrategy.exit_on_codes([2], 3).to_api() == {
        "attempts": 3,
        "evaluateOnExit": [{"onExitCode": "2", "action": "EXIT"}],
    }


def test_a_wire_dict_round_trips_and_compares_equal():
    wire = {"attempts": 3, "evaluateOnExit": SPOT_ONLY_WIRE}
    assert RetryStrategy.from_api(wire).to_api() == wire
    assert RetryStrategy.coerce(wire) == RetryStrategy.spot_only(3)
    assert RetryStrategy.coerce(2) == RetryStrategy.always(2)
    assert RetryStrategy(2, [RetryRule("EXIT", on_exit_code="3")]).to_api()["evaluateOnExit"] == [
        {"onExitCode": "3", "action": "EXIT"}
    ]


def test_action_follows_batch_first_match_and_default_retry():
    strategy = RetryStrategy.spot_only(3)
    assert strategy.action_for(status_reason="Host EC2 (instance i-08784105ffff56b4f) terminated.") == "RETRY"
    assert strategy.action_for(exit_code=1, reason="Error") == "EXIT"
    codes = RetryStrategy.exit_on_codes(["13*"], 3)
    assert codes.action_for(exit_code=137) == "EXIT"
    assert codes.action_for(exit_code=1) == "RETRY"  # no rule matches: Batch retries


def test_permanent_exit_codes_are_those_an_exit_rule_decides():
    assert RetryStrategy.exit_on_codes([2, 3], 3).permanent_exit_codes == {2, 3}
    assert RetryStrategy.spot_only(3).permanent_exit_codes == frozenset()
    shadowed = RetryStrategy(
        3, [{"onExitCode": "2*", "action": "RETRY"}, {"onExitCode": "2", "action": "EXIT"}]
    )
    assert shadowed.permanent_exit_codes == frozenset()


@pytest.mark.parametrize(
    "build, field, value",
    [
        (lambda: RetryStrategy(0), "retry_strategy.attempts", 0),
        (lambda: RetryStrategy(11), "retry_strategy.attempts", 11),
        (lambda: RetryStrategy("3"), "retry_strategy.attempts", "3"),
        (
            lambda: RetryStrategy(3, [{"onExitCode": str(i), "action": "EXIT"} for i in range(6)]),
            "retry_strategy.evaluateOnExit",
            "6 rules",
        ),
        (lambda: RetryStrategy.on_exit_codes([1, 2, 3, 4, 5], 3), "retry_strategy.evaluateOnExit", "6 rules"),
        (
            lambda: RetryStrategy(3, [{"onReason": "", "action": "EXIT"}]),
            "retry_strategy.evaluateOnExit[0].onReason",
            "",
        ),
        (
            lambda: RetryStrategy(3, [{"onReason": "x" * 513, "action": "EXIT"}]),
            "retry_strategy.evaluateOnExit[0].onReason",
            "x" * 513,
        ),
        (
            lambda: RetryStrategy(3, [{"onReason": "*OOM", "action": "EXIT"}]),
            "retry_strategy.evaluateOnExit[0].onReason",
            "*OOM",
        ),
        (
            lambda: RetryStrategy(3, [{"onReason": "OOM;", "action": "EXIT"}]),
            "retry_strategy.evaluateOnExit[0].onReason",
            "OOM;",
        ),
        (
            lambda: RetryStrategy(3, [{"onExitCode": "-1", "action": "EXIT"}]),
            "retry_strategy.evaluateOnExit[0].onExitCode",
            "-1",
        ),
        (
            lambda: RetryStrategy(3, [{"action": "EXIT"}]),
            "retry_strategy.evaluateOnExit[0]",
            {"action": "EXIT"},
        ),
        (
            lambda: RetryStrategy(3, [{"onexitcode": "1", "action": "EXIT"}]),
            "retry_strategy.evaluateOnExit[0].onexitcode",
            "1",
        ),
        (lambda: RetryStrategy.exit_on_codes([True], 3), "retry_strategy.codes", True),
        (lambda: RetryStrategy.from_api({"evaluateOnExit": []}), "retry_strategy.attempts", None),
    ],
)
def test_limits_are_checked_before_any_call(build, field, value):
    with pytest.raises(BatchEksInvalidInputError) as caught:
        build()
    assert caught.value.field == field
    assert repr(value) in str(caught.value)


def _failing_job(batch, strategy: RetryStrategy, exit_code: int) -> dict:
    submitted = batch.submit_job(
        jobName="exits",
        jobQueue="doeks-JQ1_OD",
        jobDefinition="doeks-hello-world",
        retryStrategy=strategy.to_api(),
        eksPropertiesOverride={
            "podProperties": {"containers": [{"command": ["sh", "-c", f"exit {exit_code}"], "args": []}]}
        },
    )
    return wait_for_job(batch, submitted["jobId"])


def test_batch_retries_a_listed_exit_code_and_stops_on_others(batch):
    retried = _failing_job(batch, RetryStrategy.on_exit_codes([3], attempts=2), exit_code=3)
    assert [a["containers"][0]["exitCode"] for a in retried["eksAttempts"]] == [3, 3]
    exited = _failing_job(batch, RetryStrategy.on_exit_codes([3], attempts=2), exit_code=4)
    assert [a["containers"][0]["exitCode"] for a in exited["eksAttempts"]] == [4]


def test_spot_only_retries_a_reclaimed_attempt_and_the_job_succeeds(batch, engine):
    from tests.support.waits import wait_for
    from tests.support.provider import post_admin

    submitted = batch.submit_job(
        jobName="reclaimed",
        jobQueue="doeks-JQ1_SPOT",
        jobDefinition="doeks-hello-world",
        retryStrategy=RetryStrategy.spot_only(2).to_api(),
        eksPropertiesOverride={
            "podProperties": {
                "containers": [
                    {"command": ["sh", "-c", 'test "$AWS_BATCH_JOB_ATTEMPT" = 2 || sleep 30'], "args": []}
                ]
            }
        },
    )
    job_id = submitted["jobId"]
    wait_for(
        lambda: batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"] == "RUNNING",
        what="first attempt RUNNING",
    )
    post_admin(engine.url, "/_local/reclaim", {"jobId": job_id})
    job = wait_for_job(batch, job_id)
    assert job["status"] == "SUCCEEDED"
    first, second = job["eksAttempts"]
    assert first["statusReason"].startswith("Host EC2 (instance i-")
    assert second["containers"][0]["exitCode"] == 0
