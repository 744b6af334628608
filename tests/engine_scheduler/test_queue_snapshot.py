"""GetJobQueueSnapshot through boto3: the front of the queue is the order the scheduler then starts jobs in,
positions carry the time a job reached them, and utilization counts what the queue's jobs hold."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.helpers import wait_for


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
