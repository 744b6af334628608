"""GetJobQueueSnapshot through boto3: the front of the queue is the order the scheduler then starts jobs in,
positions carry the time a job reached them, and utilization counts what the queue's jobs hold."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.engine.conftest import admin
from tests.support.waits import wait_for


def _all_runnable(env, ids):
    """Wait until every job of ``ids`` has left SUBMITTED for RUNNABLE (a scheduler pass does that)."""
    wait_for(lambda: all(j["status"] == "RUNNABLE" for j in env.jobs(ids)), timeout=10, what="all RUNNABLE")


def _front(env, queue="q"):
    snapshot = env.batch.get_job_queue_snapshot(jobQueue=queue)
    arn_to_name = {}
    jobs = snapshot["frontOfQueue"]["jobs"]
    if jobs:
        described = env.batch.describe_jobs(jobs=[j["jobArn"].rsplit("/", 1)[-1] for j in jobs])["jobs"]
        arn_to_name = {j["jobArn"]: j["jobName"] for j in described}
    return snapshot, [arn_to_name[j["jobArn"]] for j in jobs]


def test_a_fifo_front_is_the_start_order_and_positions_move_up(slots):
    slots.queue("q", ["ce"])
    slots.hold()
    ids = [slots.submit("q", "hold", f"j{i}") for i in range(8)]
    _all_runnable(slots, ids)
    first, names = _front(slots)
    assert names == [f"j{i}" for i in range(8)]
    taken = first["frontOfQueue"]["lastUpdatedAt"]
    assert all(j["earliestTimeAtPosition"] <= taken for j in first["frontOfQueue"]["jobs"])
    assert first["queueUtilization"]["totalCapacityUsage"] == [{"capacityUnit": "cpu", "quantity": 0.0}]
    assert "fairshareUtilization" not in first["queueUtilization"]

    slots.release()
    running = slots.wait_running(ids, 4)
    assert sorted(j["jobName"] for j in running) == names[:4]
    second, rest = _front(slots)
    assert rest == names[4:]
    assert all(j["earliestTimeAtPosition"] >= taken for j in second["frontOfQueue"]["jobs"])  # each moved up
    assert second["queueUtilization"]["totalCapacityUsage"] == [{"capacityUnit": "cpu", "quantity": 4.0}]
    third, _ = _front(slots)
    assert [j["earliestTimeAtPosition"] for j in third["frontOfQueue"]["jobs"]] == [
        j["earliestTimeAtPosition"] for j in second["frontOfQueue"]["jobs"]
    ]  # nothing moved between the two: the times stay


def test_a_fair_share_front_follows_the_weights(slots):
    slots.fair_queue({"shareDecaySeconds": 0, "shareDistribution": [
        {"shareIdentifier": "teamA", "weightFactor": 1}, {"shareIdentifier": "teamB", "weightFactor": 3}]})
    ids = [slots.submit("q", "hold", f"b{i}", shareIdentifier="teamB") for i in range(6)]
    ids += [slots.submit("q", "hold", f"a{i}", shareIdentifier="teamA") for i in range(6)]
    _all_runnable(slots, ids)
    _, names = _front(slots)
    assert len(names) == 12
    slots.release()
    running = slots.wait_running(ids, 4)
    assert sorted(j["jobName"] for j in running) == sorted(names[:4])  # the snapshot told who starts next
    snapshot, _ = _front(slots)
    fair = snapshot["queueUtilization"]["fairshareUtilization"]
    assert fair["activeShareCount"] == 2
    assert [(s["shareIdentifier"], s["capacityUsage"]) for s in fair["topCapacityUtilization"]] == [
        ("teamA", [{"capacityUnit": "cpu", "quantity": 3.0}]), ("teamB", [{"capacityUnit": "cpu", "quantity": 1.0}])]


def test_an_unknown_queue_is_a_client_error(slots):
    with pytest.raises(ClientError) as raised:
        slots.batch.get_job_queue_snapshot(jobQueue="no-such-queue")
    assert raised.value.response["Error"]["Code"] == "ClientException"
    assert "no-such-queue" in raised.value.response["Error"]["Message"]


def test_positions_carry_the_time_a_job_reached_them_on_the_engine_clock(make_env):
    from batch_eks_provider.local.clock import ManualClock

    env = make_env(clock=ManualClock())
    env.ce("ce", min_vcpus=2, max_vcpus=2, instance_types=["m5.large"])  # two 1-vCPU jobs at a time
    env.queue("q", ["ce"])
    env.definition("hold", ["sleep", "600"], cpu="1")
    env.hold()
    ids = [env.submit("q", "hold", f"j{i}") for i in range(4)]
    _all_runnable(env, ids)
    runnable_at = {j["jobArn"]: j["createdAt"] for j in env.jobs(ids)}
    env.advance(100)
    first, names = _front(env)
    assert names == ["j0", "j1", "j2", "j3"]
    assert first["frontOfQueue"]["lastUpdatedAt"] - max(runnable_at.values()) >= 100_000
    for entry in first["frontOfQueue"]["jobs"]:  # first look: there since each became RUNNABLE
        assert 0 <= entry["earliestTimeAtPosition"] - runnable_at[entry["jobArn"]] < 100_000
    env.release()
    env.wait_running(ids, 2)
    env.advance(50)
    second, rest = _front(env)
    assert rest == ["j2", "j3"]
    moved_at = second["frontOfQueue"]["lastUpdatedAt"]
    assert [j["earliestTimeAtPosition"] for j in second["frontOfQueue"]["jobs"]] == [moved_at, moved_at]
    env.advance(50)
    third, _ = _front(env)
    assert [j["earliestTimeAtPosition"] for j in third["frontOfQueue"]["jobs"]] == [moved_at, moved_at]
    assert third["frontOfQueue"]["lastUpdatedAt"] == moved_at + 50_000
    assert third["queueUtilization"]["lastUpdatedAt"] == third["frontOfQueue"]["lastUpdatedAt"]


def test_within_a_share_a_higher_scheduling_priority_comes_first(slots):
    slots.fair_queue({"shareDecaySeconds": 0, "shareDistribution": [{"shareIdentifier": "team", "weightFactor": 1}]})
    ids = [slots.submit("q", "hold", "low", shareIdentifier="team", schedulingPriorityOverride=1),
           slots.submit("q", "hold", "high", shareIdentifier="team", schedulingPriorityOverride=9),
           slots.submit("q", "hold", "mid", shareIdentifier="team", schedulingPriorityOverride=5)]
    _all_runnable(slots, ids)
    _, names = _front(slots)
    assert names == ["high", "mid", "low"]


def test_the_front_of_a_queue_blocked_on_capacity_shows_the_jobs_and_their_reason(make_env):
    env = make_env()
    env.ce("ce", instance_types=["m5.large"])
    env.queue("q", ["ce"])
    env.definition("one", ["true"])
    admin(env.url, "/_local/faults", {"insufficient_capacity": [{"compute_environment": "ce"}]})
    ids = [env.submit("q", "one", f"j{i}") for i in range(3)]
    reason = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type m5.large"
    wait_for(lambda: all(j.get("statusReason") == reason for j in env.jobs(ids)), timeout=10, what="blocked reasons")
    snapshot, names = _front(env)
    assert names == ["j0", "j1", "j2"]
    assert snapshot["queueUtilization"]["totalCapacityUsage"] == [{"capacityUnit": "cpu", "quantity": 0.0}]
    admin(env.url, "/_local/faults", {"insufficient_capacity": []})
    assert [env.wait(job_id)["status"] for job_id in ids] == ["SUCCEEDED"] * 3
    assert _front(env)[1] == []
