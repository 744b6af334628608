"""A placed pod is Pending (containers ContainerCreating) while its job is STARTING, then Running with its job
RUNNING, as a user sees it through the Kubernetes API; an injected start delay keeps it there (a slow image pull,
a node not ready), and a pod stopped, deleted or reclaimed while Pending ends at once."""

from __future__ import annotations

import pytest

from tests.engine.scheduling.conftest import ManualClock, admin
from tests.engine.scheduling.kubernetes_client import core_v1
from tests.support.waits import wait_for

SPOT_RETRY = {"attempts": 2, "evaluateOnExit": [{"onStatusReason": "Host EC2*", "action": "RETRY"},
                                                {"onReason": "*", "action": "EXIT"}]}


@pytest.fixture
def slow(make_env):
    """A ManualClock engine whose pods take 300 s (engine clock) to start; CEs ``ce`` and ``spot``, queues."""
    env = make_env(clock=ManualClock())
    env.ce("ce")
    env.ce("spot", spot=True)
    env.queue("q", ["ce"])
    env.queue("spot-q", ["spot"])
    env.definition("sleep", ["sleep", "60"])
    answer = admin(env.url, "/_local/faults", {"pod_start_delay_seconds": 300})
    assert answer["pod_start_delay_seconds"] == 300
    return env


def _pod(env, job: dict):
    pod = job["eksProperties"]["podProperties"]
    return core_v1(env).read_namespaced_pod(pod["podName"], "batch-jobs")


def test_a_starting_job_has_a_pending_pod_whose_container_is_being_created(slow):
    job = slow.wait_status(slow.submit("q", "sleep"), "STARTING")
    assert "startedAt" not in job
    pod = _pod(slow, job)
    assert pod.status.phase == "Pending"
    assert pod.spec.node_name == job["eksProperties"]["podProperties"]["nodeName"]  # scheduled on its node
    (container,) = pod.status.container_statuses
    assert container.state.waiting.reason == "ContainerCreating"
    assert container.ready is False
    slow.advance(299)
    slow.settle()
    assert slow.job(job["jobId"])["status"] == "STARTING"
    slow.advance(1)
    running = slow.wait_status(job["jobId"], "RUNNING")
    assert running["startedAt"] >= job["createdAt"]
    pod = _pod(slow, running)
    assert pod.status.phase == "Running"
    assert pod.status.container_statuses[0].state.running is not None
    slow.batch.terminate_job(jobId=job["jobId"], reason="done")


def test_removing_the_delay_starts_pending_pods_at_once(slow):
    job_id = slow.submit("q", "sleep")
    slow.wait_status(job_id, "STARTING")
    admin(slow.url, "/_local/faults", {"pod_start_delay_seconds": 0})
    slow.wait_status(job_id, "RUNNING")
    slow.batch.terminate_job(jobId=job_id, reason="done")


def test_a_delay_for_one_compute_environment_leaves_the_others_fast(slow):
    admin(slow.url, "/_local/faults", {"pod_start_delay_seconds": 0})
    answer = admin(slow.url, "/_local/faults", {"pod_start_delay_seconds": 300, "compute_environment": "spot"})
    assert answer["pod_start_delay_seconds"] == 0 and answer["pod_start_delays"] == {"spot": 300}
    fast = slow.submit("q", "sleep", "fast")
    held = slow.submit("spot-q", "sleep", "held")
    slow.wait_status(fast, "RUNNING")
    assert _pod(slow, slow.wait_status(held, "STARTING")).status.phase == "Pending"
    for job_id in (fast, held):
        slow.batch.terminate_job(jobId=job_id, reason="done")


def test_a_job_terminated_while_its_pod_is_pending_fails_at_once(slow):
    job_id = slow.submit("q", "sleep")
    slow.wait_status(job_id, "STARTING")
    slow.batch.terminate_job(jobId=job_id, reason="not needed")
    done = slow.wait(job_id)
    assert (done["status"], done["statusReason"], done["isTerminated"]) == ("FAILED", "not needed", True)
    (attempt,) = done["eksAttempts"]
    assert attempt["statusReason"] == "not needed"


def test_a_pending_pod_whose_spot_node_is_reclaimed_is_retried(slow):
    job_id = slow.submit("spot-q", "sleep", retryStrategy=SPOT_RETRY)
    slow.wait_status(job_id, "STARTING")
    reclaimed = admin(slow.url, "/_local/reclaim", {"jobId": job_id})
    again = wait_for(lambda: (j := slow.job(job_id))["eksAttempts"] and j, timeout=10, what="the first attempt recorded")
    assert again["eksAttempts"][0]["statusReason"] == f"Host EC2 (instance {reclaimed['instanceId']}) terminated."
    second = slow.wait_status(job_id, "STARTING")
    assert second["eksProperties"]["podProperties"]["podName"] != again["eksAttempts"][0]["podName"]
    slow.advance(300)
    running = slow.wait_status(job_id, "RUNNING")
    assert running["eksProperties"]["podProperties"]["nodeName"] != again["eksAttempts"][0]["nodeName"]
    slow.batch.terminate_job(jobId=job_id, reason="done")


def test_a_pod_deleted_while_pending_fails_its_attempt(slow):
    job = slow.wait_status(slow.submit("q", "sleep"), "STARTING")
    pod = job["eksProperties"]["podProperties"]["podName"]
    core_v1(slow).delete_namespaced_pod(pod, "batch-jobs")
    done = slow.wait(job["jobId"])
    assert done["status"] == "FAILED"
    assert pod in done["eksAttempts"][0]["statusReason"]


def test_without_a_delay_jobs_reach_running(make_env):
    env = make_env(clock=ManualClock())
    env.ce("ce")
    env.queue("q", ["ce"])
    env.definition("sleep", ["sleep", "60"])
    job = env.wait_status(env.submit("q", "sleep"), "RUNNING")
    assert _pod(env, job).status.phase == "Running"
    env.batch.terminate_job(jobId=job["jobId"], reason="done")
