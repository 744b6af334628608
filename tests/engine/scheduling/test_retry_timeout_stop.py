"""Retry strategies, per-attempt timeouts (ManualClock), TerminateJob and CancelJob."""

from __future__ import annotations

import pytest

from tests.support.waits import wait_for

EXIT_BY_ATTEMPT = 'echo "attempt $AWS_BATCH_JOB_ATTEMPT"; exit $((10 + AWS_BATCH_JOB_ATTEMPT))'


def _attempt_lines(env, job):
    """Every line the job's attempts printed, in attempt order (from CloudWatch Logs)."""
    return [line for attempt in job["eksAttempts"] for line in env.attempt_output(attempt)]


def test_no_matching_rule_means_retry_until_attempts_run_out(env):
    env.definition("fail", ["sh", "-c", EXIT_BY_ATTEMPT])
    job_id = env.submit(
        "q", "fail", retryStrategy={"attempts": 3, "evaluateOnExit": [{"onExitCode": "99", "action": "EXIT"}]}
    )
    done = env.wait(job_id)
    assert done["status"] == "FAILED"
    assert [a["containers"][0]["exitCode"] for a in done["eksAttempts"]] == [11, 12, 13]
    assert _attempt_lines(env, done) == ["attempt 1", "attempt 2", "attempt 3"]
    assert done["attempts"] == []


def test_the_first_matching_rule_wins_and_exit_stops_retries(env):
    env.definition("fail", ["sh", "-c", EXIT_BY_ATTEMPT])
    rules = [
        {"onExitCode": "12", "action": "EXIT"},  # attempt 2 exits 12: stop there
        {"onExitCode": "1*", "action": "RETRY"},
    ]
    done = env.wait(env.submit("q", "fail", retryStrategy={"attempts": 5, "evaluateOnExit": rules}))
    assert done["status"] == "FAILED"
    assert len(done["eksAttempts"]) == 2


def test_on_reason_and_on_status_reason_patterns(env):
    env.definition("fail", ["sh", "-c", "exit 2"])
    # every condition of a rule must match: onReason Error matches, onExitCode 3 does not -> next rule
    rules = [
        {"onReason": "Error", "onExitCode": "3", "action": "RETRY"},
        {"onStatusReason": "Essential container*", "action": "EXIT"},
    ]
    done = env.wait(env.submit("q", "fail", retryStrategy={"attempts": 4, "evaluateOnExit": rules}))
    assert len(done["eksAttempts"]) == 1
    assert done["statusReason"].startswith("Essential container")
    rules = [{"onReason": "Err*", "action": "RETRY"}, {"onReason": "*", "action": "EXIT"}]
    done = env.wait(env.submit("q", "fail", retryStrategy={"attempts": 2, "evaluateOnExit": rules}))
    assert len(done["eksAttempts"]) == 2


def test_a_retried_job_can_succeed(env):
    env.definition("flaky", ["sh", "-c", '[ "$AWS_BATCH_JOB_ATTEMPT" -ge 2 ]'])
    done = env.wait(env.submit("q", "flaky", retryStrategy={"attempts": 3}))
    assert done["status"] == "SUCCEEDED"
    assert [a["containers"][0]["reason"] for a in done["eksAttempts"]] == ["Error", "Completed"]


def test_an_attempt_over_its_timeout_gets_sigterm_and_is_not_retried(manual):
    manual.definition("trap", ["sh", "-c", "trap 'echo got TERM; exit 143' TERM; echo trapped; while true; do sleep 0.1; done"])
    job_id = manual.submit("q", "trap", timeout={"attemptDurationSeconds": 60}, retryStrategy={"attempts": 3})
    manual.wait_for_output(job_id, "trapped")  # RUNNING comes before the shell has set its trap
    manual.advance(59)
    manual.settle()  # the scheduler has looked at the timeout after the clock moved
    still = manual.job(job_id)
    assert (still["status"], still["eksAttempts"]) == ("RUNNING", [])
    manual.advance(2)
    done = manual.wait(job_id)
    assert done["status"] == "FAILED"
    assert done["statusReason"] == "Job attempt duration exceeded timeout"
    assert len(done["eksAttempts"]) == 1
    assert done["eksAttempts"][0]["containers"][0]["exitCode"] == 143
    assert "got TERM" in _attempt_lines(manual, done)


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(manual):
    manual.definition("stubborn", ["sh", "-c", "trap '' TERM; echo trapped; while true; do sleep 0.1; done"])
    job_id = manual.submit("q", "stubborn", timeout={"attemptDurationSeconds": 60})
    manual.wait_for_output(job_id, "trapped")  # RUNNING comes before the shell has set its trap
    manual.advance(61)
    manual.settle()  # the timeout fired and SIGTERM went out; it is ignored and the grace period has not passed
    still = manual.job(job_id)
    assert (still["status"], still["eksAttempts"]) == ("RUNNING", [])
    assert still["eksProperties"]["podProperties"]["podName"] in manual.engine.scheduler.runtime.runs
    manual.advance(1.5)  # termination_grace_seconds = 1
    done = manual.wait(job_id)
    assert done["statusReason"] == "Job attempt duration exceeded timeout"
    assert done["eksAttempts"][0]["containers"][0]["exitCode"] == 137


def test_terminate_fails_a_running_job_without_retry(env):
    env.definition("long", ["sleep", "30"])
    job_id = env.submit("q", "long", retryStrategy={"attempts": 3})
    env.wait_status(job_id, "RUNNING")
    env.batch.terminate_job(jobId=job_id, reason="operator said stop")
    done = env.wait(job_id)
    assert done["status"] == "FAILED"
    assert done["statusReason"] == "operator said stop"
    assert done["isTerminated"] is True
    assert len(done["eksAttempts"]) == 1


def test_cancel_fails_waiting_jobs_and_leaves_running_ones(env):
    env.definition("long", ["sleep", "2"])
    running = env.submit("q", "long", "running")
    env.wait_status(running, "RUNNING")
    waiting = env.submit("q", "long", "waiting", dependsOn=[{"jobId": running}])
    env.batch.cancel_job(jobId=waiting, reason="not needed")
    env.batch.cancel_job(jobId=running, reason="too late")  # succeeds, changes nothing
    cancelled = env.wait(waiting)
    assert (cancelled["status"], cancelled["statusReason"], cancelled["isCancelled"]) == ("FAILED", "not needed", True)
    assert env.wait(running)["status"] == "SUCCEEDED"


def test_terminating_an_array_parent_stops_every_child(env):
    env.definition("long", ["sleep", "30"], cpu="4")
    parent = env.submit("q", "long", "arr", arrayProperties={"size": 6})  # 4 run at once on 16 vCPUs
    wait_for(lambda: env.job(parent)["arrayProperties"]["statusSummary"]["RUNNING"] == 4, timeout=15, what="4 running")
    env.batch.terminate_job(jobId=parent, reason="stop all")
    done = env.wait(parent)
    assert done["status"] == "FAILED"
    assert done["arrayProperties"]["statusSummary"]["FAILED"] == 6
    children = env.jobs([f"{parent}:{i}" for i in range(6)])
    assert sorted(c["isTerminated"] for c in children) == [False, False, True, True, True, True]
    assert {c["statusReason"] for c in children} == {"stop all"}


def test_an_exact_on_status_reason_rule_written_for_aws_matches(env):
    """AWS's plain statusReason, matched exactly; the failing container's detail is in eksAttempts."""
    env.definition("fail", ["sh", "-c", EXIT_BY_ATTEMPT])
    rules = [{"onStatusReason": "Essential container in pod exited", "action": "RETRY"}, {"onReason": "*", "action": "EXIT"}]
    done = env.wait(env.submit("q", "fail", retryStrategy={"attempts": 2, "evaluateOnExit": rules}))
    assert done["statusReason"] == "Essential container in pod exited"
    assert [(a["statusReason"], a["containers"][0]["exitCode"], a["containers"][0]["reason"]) for a in done["eksAttempts"]] == [
        ("Essential container in pod exited", 11, "Error"), ("Essential container in pod exited", 12, "Error")]
    # the engine's own reason is a valid onStatusReason pattern
    env.batch.register_job_definition(
        jobDefinitionName="valid-pattern", type="container", retryStrategy={"attempts": 2, "evaluateOnExit": rules},
        eksProperties={"podProperties": {"containers": [
            {"name": "main", "image": "busybox", "command": ["true"], "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}]}},
    )
