"""Pod retention and cancelling array jobs."""

from __future__ import annotations

from tests.support.waits import wait_for


def test_finished_pods_are_deleted_after_the_retention_time(manual):
    manual.definition("hello", ["echo", "hi"])
    done = manual.wait(manual.submit("q", "hello"))
    pod_name = done["eksAttempts"][0]["podName"]
    state = manual.engine.state
    assert state.pods[pod_name].phase == "Succeeded"
    manual.advance(29)
    manual.settle()
    assert pod_name in state.pods
    manual.advance(2)
    wait_for(lambda: pod_name not in state.pods, timeout=5, what="pod deleted")
    assert manual.job(done["jobId"])["eksAttempts"][0]["podName"] == pod_name  # the attempt keeps its record


def test_cancelling_an_array_job_cancels_waiting_children_and_spares_running_ones(make_env):
    env = make_env()
    env.ce("ce", max_vcpus=2, min_vcpus=2, instance_types=["m5.large"])
    env.queue("q", ["ce"])
    env.definition("two", ["sleep", "1"], cpu="2")
    parent = env.submit("q", "two", "arr", arrayProperties={"size": 3})
    wait_for(lambda: env.job(parent)["arrayProperties"]["statusSummary"]["RUNNING"] == 1, timeout=10, what="one running")
    env.batch.cancel_job(jobId=parent, reason="no longer needed")
    done = env.wait(parent)
    assert done["status"] == "FAILED"
    children = env.jobs([f"{parent}:{i}" for i in range(3)])
    assert sorted(c["status"] for c in children) == ["FAILED", "FAILED", "SUCCEEDED"]
    cancelled = [c for c in children if c["status"] == "FAILED"]
    assert all(c["isCancelled"] and c["statusReason"] == "no longer needed" for c in cancelled)
    assert all(c["eksAttempts"] == [] for c in cancelled)
