"""Spot interruptions, node reclaim and engine restarts."""

from __future__ import annotations

from batch_eks_provider.local.clock import ManualClock
from tests.engine.scheduling.conftest import admin
from tests.support.waits import wait_for

SPOT_RETRY = {"attempts": 2, "evaluateOnExit": [
    {"onStatusReason": "Host EC2*", "action": "RETRY"}, {"onReason": "*", "action": "EXIT"}]}
LONG_ON_FIRST_ATTEMPT = ["sh", "-c", 'if [ "$AWS_BATCH_JOB_ATTEMPT" = 1 ]; then sleep 60; fi']


def _spot(env):
    env.ce("spot", spot=True)
    env.queue("spot-q", ["spot"])
    env.definition("once-slow", LONG_ON_FIRST_ATTEMPT)


def _host_terminated(reason):
    return reason.startswith("Host EC2 (instance i-") and reason.endswith(") terminated.")


def test_reclaiming_the_node_retries_on_spot_and_succeeds(make_env):
    env = make_env()
    _spot(env)
    job_id = env.submit("spot-q", "once-slow", retryStrategy=SPOT_RETRY)
    running = env.wait_status(job_id, "RUNNING")
    answer = admin(env.url, "/_local/reclaim", {"jobId": job_id})
    assert answer["nodeName"] == running["eksProperties"]["podProperties"]["nodeName"]
    done = env.wait(job_id)
    assert done["status"] == "SUCCEEDED"
    first, second = done["eksAttempts"]
    assert first["statusReason"] == f"Host EC2 (instance {answer['instanceId']}) terminated."
    assert first["nodeName"] != second["nodeName"]
    assert answer["nodeName"] not in env.engine.state.nodes


def test_a_reclaimed_job_without_retry_fails_with_the_host_reason(make_env):
    env = make_env()
    _spot(env)
    job_id = env.submit("spot-q", "once-slow")
    env.wait_status(job_id, "RUNNING")
    admin(env.url, "/_local/reclaim", {"jobId": job_id})
    done = env.wait(job_id)
    assert done["status"] == "FAILED"
    assert _host_terminated(done["statusReason"])


def test_the_engine_wide_spot_interruption_rate_reclaims_spot_nodes(make_env):
    env = make_env(clock=ManualClock())
    _spot(env)
    env.ce("od")
    env.queue("od-q", ["od"])
    spot_job = env.submit("spot-q", "once-slow", retryStrategy=SPOT_RETRY)
    od_job = env.submit("od-q", "once-slow", retryStrategy=SPOT_RETRY)
    env.wait_status(spot_job, "RUNNING")
    env.wait_status(od_job, "RUNNING")
    admin(env.url, "/_local/faults", {"spot_interruption_rate": 60.0})  # per node per minute
    env.advance(60)
    done = env.wait(spot_job)
    admin(env.url, "/_local/faults", {"spot_interruption_rate": 0.0})
    assert done["status"] == "SUCCEEDED"
    assert _host_terminated(done["eksAttempts"][0]["statusReason"])
    assert env.job(od_job)["status"] == "RUNNING"  # on-demand nodes are not Spot-interrupted
    env.batch.terminate_job(jobId=od_job, reason="cleanup")


def test_a_compute_environment_rate_applies_to_its_own_nodes(make_env):
    env = make_env(clock=ManualClock())
    _spot(env)
    env.ce("other-spot", spot=True)
    env.queue("other-spot-q", ["other-spot"])
    answer = admin(env.url, "/_local/faults", {"spot_interruption_rate": 60, "compute_environment": "spot"})
    assert answer["compute_environments"] == {"spot": 60.0} and answer["spot_interruption_rate"] == 0.0
    job_id = env.submit("spot-q", "once-slow", retryStrategy=SPOT_RETRY)
    other = env.submit("other-spot-q", "once-slow", retryStrategy=SPOT_RETRY)
    env.wait_status(job_id, "RUNNING")
    env.wait_status(other, "RUNNING")
    env.advance(60)
    done = env.wait(job_id)
    assert len(done["eksAttempts"]) == 2
    assert _host_terminated(done["eksAttempts"][0]["statusReason"])
    assert env.job(other)["status"] == "RUNNING" and len(env.job(other)["eksAttempts"]) == 0
    env.batch.terminate_job(jobId=other, reason="cleanup")


def test_the_fault_route_names_a_bad_compute_environment_or_rate(make_env):
    import urllib.error

    import pytest

    env = make_env()
    for body, message in (
        ({"spot_interruption_rate": 2, "compute_environment": "nope"}, "Invalid compute_environment 'nope': compute environment does not exist."),
        ({"throttle_rate": 0.5, "compute_environment": "nope"}, "goes with spot_interruption_rate or pod_start_delay_seconds"),
        ({"spot_interruption_rate": "often"}, "Invalid spot_interruption_rate 'often': must be a number between 0 and 60"),
    ):
        with pytest.raises(urllib.error.HTTPError) as raised:
            admin(env.url, "/_local/faults", body)
        assert raised.value.code == 400 and message in raised.value.read().decode()


def test_after_a_restart_everything_is_back_and_running_attempts_fail_as_lost_hosts(make_env, tmp_path):
    state_dir = tmp_path / "kept"
    first = make_env(state_dir=state_dir)
    first.ce("ce")
    first.queue("q", ["ce"])
    first.definition("ok", ["true"])
    first.definition("once-slow", LONG_ON_FIRST_ATTEMPT)
    finished = first.submit("q", "ok", "finished")
    first.wait(finished)
    survivor = first.submit("q", "once-slow", "survivor", retryStrategy=SPOT_RETRY)
    lost = first.submit("q", "once-slow", "lost")
    first.wait_status(survivor, "RUNNING")
    first.wait_status(lost, "RUNNING")
    after = first.submit("q", "ok", "after", dependsOn=[{"jobId": survivor}])
    arr = first.submit("q", "once-slow", "arr", arrayProperties={"size": 2}, retryStrategy=SPOT_RETRY)
    first.local.stop()

    second = make_env(state_dir=state_dir)
    definitions = second.batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]
    assert sorted(d["jobDefinitionName"] for d in definitions) == ["ok", "once-slow"]
    assert second.describe_ce("ce")["status"] == "VALID"
    assert second.batch.describe_job_queues(jobQueues=["q"])["jobQueues"][0]["state"] == "ENABLED"
    assert second.job(finished)["status"] == "SUCCEEDED"
    done = second.wait(survivor)
    assert done["status"] == "SUCCEEDED"
    assert _host_terminated(done["eksAttempts"][0]["statusReason"])
    lost_job = second.wait(lost)
    assert lost_job["status"] == "FAILED" and _host_terminated(lost_job["statusReason"])
    assert second.wait(after)["status"] == "SUCCEEDED"
    assert second.wait(arr)["status"] == "SUCCEEDED"
    assert second.job(arr)["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 2
    wait_for(lambda: second.engine.state.nodes, timeout=5, what="nodes launched again")


def test_tags_survive_a_restart_on_the_same_state_dir(make_env, tmp_path):
    state_dir = tmp_path / "tagged"
    first = make_env(state_dir=state_dir)
    first.ce("ce")
    queue_arn = first.batch.describe_job_queues(jobQueues=[first.queue("q", ["ce"])])["jobQueues"][0]["jobQueueArn"]
    first.definition("one", ["true"])
    job_id = first.submit("q", "one", tags={"team": "data"})
    job_arn = first.job(job_id)["jobArn"]
    first.batch.tag_resource(resourceArn=queue_arn, tags={"owner": "ml", "tier": "gold"})
    first.batch.untag_resource(resourceArn=queue_arn, tagKeys=["tier"])
    first.batch.tag_resource(resourceArn=job_arn, tags={"run": "7"})
    first.local.stop()

    second = make_env(state_dir=state_dir)
    assert second.batch.list_tags_for_resource(resourceArn=queue_arn)["tags"] == {"owner": "ml"}
    assert second.batch.list_tags_for_resource(resourceArn=job_arn)["tags"] == {"team": "data", "run": "7"}
    assert second.batch.describe_job_queues(jobQueues=["q"])["jobQueues"][0]["tags"] == {"owner": "ml"}
    assert second.job(job_id)["tags"] == {"team": "data", "run": "7"}


def test_a_fifo_queue_keeps_its_order_across_a_restart(make_env, tmp_path):
    state_dir = tmp_path / "kept"
    first = make_env(state_dir=state_dir)
    first.ce("one-at-a-time", max_vcpus=2, state="DISABLED")  # m5.large: room for one 2-vCPU job
    first.queue("q", ["one-at-a-time"])
    first.definition("ok", ["true"], cpu="2")
    ids = [first.submit("q", "ok", f"j{i}") for i in range(8)]
    for job_id in ids:
        first.wait_status(job_id, "RUNNABLE")
    first.local.stop()

    second = make_env(state_dir=state_dir)
    second.batch.update_compute_environment(computeEnvironment="one-at-a-time", state="ENABLED")
    jobs = [second.wait(job_id) for job_id in ids]
    assert [j["status"] for j in jobs] == ["SUCCEEDED"] * 8
    started = [j["startedAt"] for j in jobs]
    assert started == sorted(started), "jobs ran out of submission order after the restart"
