"""Queues by priority, FIFO order and fair-share scheduling, observed through which jobs start."""

from __future__ import annotations

import pytest

from batch_eks_provider.local.clock import ManualClock
from tests.support.waits import wait_for


def test_fifo_queue_starts_jobs_in_submission_order(slots):
    slots.queue("q", ["ce"])
    slots.hold()
    ids = [slots.submit("q", "hold", f"j{i}") for i in range(8)]
    slots.release()
    running = slots.wait_running(ids, 4)
    assert sorted(j["jobName"] for j in running) == ["j0", "j1", "j2", "j3"]


def test_the_higher_priority_queue_goes_first(slots):
    slots.hold()
    slots.queue("low", ["ce"], priority=1)
    slots.queue("high", ["ce"], priority=10)
    low = [slots.submit("low", "hold", f"low{i}") for i in range(4)]
    high = [slots.submit("high", "hold", f"high{i}") for i in range(3)]
    slots.release()
    running = slots.wait_running(low + high, 4)
    assert sorted(j["jobName"] for j in running) == ["high0", "high1", "high2", "low0"]


def test_lower_weight_gets_the_larger_share(slots):
    slots.fair_queue({"shareDecaySeconds": 0, "shareDistribution": [
        {"shareIdentifier": "teamA", "weightFactor": 1}, {"shareIdentifier": "teamB", "weightFactor": 3}]})
    ids = [slots.submit("q", "hold", f"b{i}", shareIdentifier="teamB") for i in range(6)]
    ids += [slots.submit("q", "hold", f"a{i}", shareIdentifier="teamA") for i in range(6)]
    slots.release()
    running = slots.wait_running(ids, 4)
    shares = sorted(j["shareIdentifier"] for j in running)
    assert shares == ["teamA", "teamA", "teamA", "teamB"]
    # a finished teamA job frees a slot that goes back to teamA (3:1 is kept)
    first_a = next(j for j in running if j["shareIdentifier"] == "teamA")
    slots.batch.terminate_job(jobId=first_a["jobId"], reason="done early")
    slots.wait(first_a["jobId"])
    running = slots.wait_running(ids, 4)
    assert sorted(j["shareIdentifier"] for j in running) == ["teamA", "teamA", "teamA", "teamB"]


def test_trailing_star_share_identifiers_and_scheduling_priority(slots):
    slots.fair_queue({"shareDistribution": [
        {"shareIdentifier": "gpu*", "weightFactor": 3}, {"shareIdentifier": "cpu", "weightFactor": 1}]})
    ids = [slots.submit("q", "hold", f"g{i}", shareIdentifier="gputeam", schedulingPriorityOverride=i) for i in range(4)]
    ids += [slots.submit("q", "hold", f"c{i}", shareIdentifier="cpu") for i in range(4)]
    slots.release()
    running = slots.wait_running(ids, 4)
    gpu = [j["jobName"] for j in running if j["shareIdentifier"] == "gputeam"]
    assert len(gpu) == 1
    assert gpu == ["g3"]  # highest schedulingPriority first within the share


def test_compute_reservation_keeps_room_for_idle_shares(slots):
    slots.fair_queue({"computeReservation": 50, "shareDistribution": []})
    ids = [slots.submit("q", "hold", f"a{i}", shareIdentifier="teamA") for i in range(6)]
    slots.release()
    # one active share: (50/100)^1 of 4 vCPUs stays reserved for shares with nothing running
    running = slots.wait_running(ids, 2)
    assert {j["shareIdentifier"] for j in running} == {"teamA"}
    newcomer = slots.submit("q", "hold", "b0", shareIdentifier="teamB")
    slots.wait_status(newcomer, "RUNNING")


def test_share_decay_remembers_recent_usage(make_env):
    env = make_env(clock=ManualClock())
    env.ce("ce", min_vcpus=2, max_vcpus=2, instance_types=["m5.large"])
    env.definition("one", ["sleep", "0.3"], cpu="2")
    env.fair_queue({"shareDecaySeconds": 3600, "shareDistribution": []})
    env.release()
    heavy = env.submit("q", "one", "heavy", shareIdentifier="teamA")
    env.wait_status(heavy, "RUNNING")
    env.advance(600)  # teamA holds 2 vCPUs for 10 minutes of engine time
    env.wait(heavy)
    env.hold()
    a = env.submit("q", "one", "a", shareIdentifier="teamA")
    b = env.submit("q", "one", "b", shareIdentifier="teamB")
    env.release()
    first = wait_for(lambda: next((j for j in env.jobs([a, b]) if j["status"] != "RUNNABLE"), None), timeout=10)
    assert first["jobName"] == "b"


@pytest.mark.parametrize("fair", [False, True], ids=["fifo", "fair-share"])
def test_a_pass_looks_at_a_few_waiting_jobs_not_all_of_them(make_env, fair):
    env = make_env()
    env.ce("ce", min_vcpus=2, max_vcpus=2, instance_types=["m5.large"])
    if fair:
        env.queue("q", ["ce"], policy_arn=env.policy("fair", {"shareDistribution": []}))
        share = {"shareIdentifier": "team"}
    else:
        env.queue("q", ["ce"])
        share = {}
    env.definition("hold", ["sleep", "60"], cpu="2")
    blocker = env.submit("q", "hold", "blocker", **share)
    env.wait_status(blocker, "RUNNING")
    parent = env.submit("q", "hold", "many", arrayProperties={"size": 3000}, **share)
    wait_for(lambda: env.job(parent)["arrayProperties"]["statusSummary"]["RUNNABLE"] == 3000, timeout=20, what="3000 RUNNABLE")
    scheduler = env.engine.scheduler
    passes, examined = scheduler.passes, scheduler.jobs_examined
    env.settle(passes=10)
    per_pass = (scheduler.jobs_examined - examined) / (scheduler.passes - passes)
    assert per_pass <= 16  # the walk stops when nothing has room, whatever the queue's length


def test_a_fair_share_job_left_waiting_by_a_full_shared_environment_runs_once_there_is_room(slots):
    """A walk that stops at a job with no room must keep the job in its share: it ran never again before."""
    slots.queue("fifo", ["ce"])
    slots.fair_queue({"shareDecaySeconds": 0, "shareDistribution": [{"shareIdentifier": "teamA", "weightFactor": 1}]}, name="fair")
    slots.release()
    holders = [slots.submit("fifo", "hold", f"holder{i}") for i in range(4)]
    slots.wait_running(holders, 4)
    waiting = slots.submit("fair", "hold", "shared", shareIdentifier="teamA")
    slots.wait_status(waiting, "RUNNABLE")
    slots.settle(passes=5)  # walks that offer the fair-share job and find no room
    snapshot = slots.batch.get_job_queue_snapshot(jobQueue="fair")
    assert [j["jobArn"].rsplit("/", 1)[-1] for j in snapshot["frontOfQueue"]["jobs"]] == [waiting]
    slots.batch.terminate_job(jobId=holders[0], reason="make room")
    assert slots.wait_status(waiting, "RUNNING")["status"] == "RUNNING"
