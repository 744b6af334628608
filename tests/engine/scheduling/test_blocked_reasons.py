"""Why a RUNNABLE job does not start, as a user reads it from DescribeJobs: the blocked-queue statusReason
values worded as AWS words them, the injected insufficient-capacity fault with its fall back to the queue's
next compute environment, and plain RUNNABLE (no reason) for a job that only waits its turn."""

from __future__ import annotations

import json
import urllib.error

import pytest

from tests.engine.scheduling.conftest import ManualClock, admin
from tests.engine.scheduling.kubernetes_client import core_v1
from tests.support.waits import wait_for

JOB_RESOURCE = (
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher "
    "than that can be met by the CE(s) attached to the job queue."
)
MAX_RESOURCE = (
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - CE(s) associated with the job queue cannot meet the CPU "
    "requirement of the job."
)
INVALID_CES = "ACTION_REQUIRED - CE(s) associated with the job queue are invalid."


def capacity(instance_type: str) -> str:
    return f"CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type {instance_type}"


def _reason(env, job_id: str, expected: str) -> dict:
    """Wait until the job carries ``expected`` as its statusReason; return the job."""
    return wait_for(lambda: (j := env.job(job_id)).get("statusReason") == expected and j, timeout=10,
                    what=f"statusReason {expected!r}")


def _faults(env, body: dict) -> dict:
    return admin(env.url, "/_local/faults", body)


def _scaled_to_zero(env, ce: str) -> None:
    """Wait until the CE's idle nodes are gone (``node_idle_seconds`` is 1 s here)."""
    wait_for(lambda: env.describe_ce(ce)["computeResources"]["desiredvCpus"] == 0, timeout=10, what=f"{ce} at 0 vCPUs")


def _ce_of(env, job: dict) -> str:
    """The compute environment the job's last attempt ran in, from the environment the job printed."""
    return env.env_of(job)["AWS_BATCH_CE_NAME"]


def test_a_job_no_instance_type_holds_gets_job_resource_requirement_and_the_jobs_behind_it_run(make_env):
    env = make_env()
    env.ce("small", max_vcpus=64, instance_types=["m5.large", "m5.xlarge"])
    env.ce("other", max_vcpus=64, instance_types=["c5.large"])
    env.queue("q", ["small", "other"])
    env.definition("fat", ["true"], cpu="1", memory="32768Mi")  # beyond m5.xlarge's 16 GiB and c5.large's
    env.definition("gpu", ["true"], cpu="1", memory="256Mi", pod={"containers": [{
        "name": "main", "image": "x", "command": ["true"],
        "resources": {"limits": {"cpu": "1", "memory": "256Mi", "nvidia.com/gpu": "1"}}}]})
    env.definition("one", ["true"])
    fat = env.submit("q", "fat", "fat")
    gpu = env.submit("q", "gpu", "gpu")
    behind = env.submit("q", "one", "behind")
    assert _reason(env, fat, JOB_RESOURCE)["status"] == "RUNNABLE"
    assert _reason(env, gpu, JOB_RESOURCE)["status"] == "RUNNABLE"
    assert env.wait(behind)["status"] == "SUCCEEDED"
    assert env.batch.describe_job_queues(jobQueues=["q"])["jobQueues"][0]["status"] == "VALID"  # no queue status for it


def test_a_job_above_every_max_vcpus_gets_compute_environment_max_resource_until_max_vcpus_grows(make_env):
    env = make_env()
    env.ce("ce", max_vcpus=4)  # m5 family: m5.2xlarge holds 8 vCPUs, maxvCpus does not
    env.queue("q", ["ce"])
    env.definition("eight", ["true"], cpu="8")
    job_id = env.submit("q", "eight")
    assert _reason(env, job_id, MAX_RESOURCE)["status"] == "RUNNABLE"
    env.batch.update_compute_environment(computeEnvironment="ce", computeResources={"maxvCpus": 8})
    done = env.wait(job_id)
    assert done["status"] == "SUCCEEDED"
    assert "statusReason" not in done


def test_a_job_waiting_behind_a_full_compute_environment_has_no_reason(slots):
    slots.queue("q", ["ce"])
    ids = [slots.submit("q", "hold", f"j{i}") for i in range(5)]
    slots.wait_running(ids, 4)
    (waiting,) = [j for j in slots.jobs(ids) if j["status"] == "RUNNABLE"]
    assert "statusReason" not in waiting
    slots.settle()
    assert "statusReason" not in slots.job(waiting["jobId"])


def test_a_queue_whose_compute_environments_are_all_invalid_says_action_required(make_env):
    env = make_env()
    env.ce("bad", cluster="arn:aws:eks:us-east-1:123456789012:cluster/old-cluster")
    env.queue("q", ["bad"])
    env.hold("bad")
    env.definition("one", ["true"])
    job_id = env.submit("q", "one")
    admin(env.url, "/_local/clusters/old-cluster", {"version": "1.22"})
    # checked again on its next update: the cluster's version is now unsupported
    env.batch.update_compute_environment(computeEnvironment="bad", state="ENABLED", computeResources={"maxvCpus": 8})
    wait_for(lambda: env.describe_ce("bad")["status"] == "INVALID", timeout=10, what="CE INVALID")
    assert _reason(env, job_id, INVALID_CES)["status"] == "RUNNABLE"
    admin(env.url, "/_local/clusters/old-cluster", {"version": "1.30"})
    env.batch.update_compute_environment(computeEnvironment="bad", computeResources={"maxvCpus": 16})
    done = env.wait(job_id)
    assert done["status"] == "SUCCEEDED" and "statusReason" not in done


def test_insufficient_capacity_on_the_first_ce_falls_back_to_the_next(make_env):
    env = make_env()
    env.ce("spot", spot=True, instance_types=["m5.large"])
    env.ce("ondemand", instance_types=["m5.large"])
    env.queue("q", ["spot", "ondemand"])
    env.definition("env", ["env"])
    answer = _faults(env, {"insufficient_capacity": [{"compute_environment": "spot"}]})
    assert answer["insufficient_capacity"] == [{"compute_environment": "spot"}]
    done = env.wait(env.submit("q", "env"))
    assert done["status"] == "SUCCEEDED"
    assert "statusReason" not in done
    assert _ce_of(env, done) == "ondemand"
    _faults(env, {"insufficient_capacity": []})
    _scaled_to_zero(env, "ondemand")  # else its idle node, up already, takes the next job
    again = env.wait(env.submit("q", "env", "again"))
    assert _ce_of(env, again) == "spot"


def test_insufficient_capacity_everywhere_holds_the_job_runnable_until_the_fault_goes(make_env):
    env = make_env()
    env.ce("spot", spot=True, instance_types=["m5.large", "m5.xlarge"])
    env.queue("q", ["spot"])
    env.definition("env", ["env"])
    env.definition("big", ["true"], cpu="3")  # m5.large holds 2 vCPUs: best fit is m5.xlarge
    _faults(env, {"insufficient_capacity": [{"compute_environment": "spot"}]})
    first, second = env.submit("q", "env", "first"), env.submit("q", "env", "second")
    big = env.submit("q", "big", "big")
    for job_id in (first, second):
        assert _reason(env, job_id, capacity("m5.large"))["status"] == "RUNNABLE"
    assert _reason(env, big, capacity("m5.xlarge"))["status"] == "RUNNABLE"
    assert env.engine.state.nodes == {}  # nothing launched
    assert _faults(env, {})["insufficient_capacity"] == [{"compute_environment": "spot"}]  # an empty POST changes nothing
    _faults(env, {"insufficient_capacity": []})
    for job_id in (first, second, big):
        done = env.wait(job_id)
        assert done["status"] == "SUCCEEDED" and "statusReason" not in done


def test_insufficient_capacity_of_one_instance_type_launches_the_next_type_that_fits(make_env):
    env = make_env()
    env.ce("ce", instance_types=["m5.large", "m5.xlarge"])
    env.queue("q", ["ce"])
    env.definition("one", ["true"])
    env.definition("long", ["sleep", "60"])
    _faults(env, {"insufficient_capacity": [{"instance_type": "m5.large"}]})
    running = env.wait_status(env.submit("q", "long"), "RUNNING")
    node = core_v1(env).read_node(running["eksProperties"]["podProperties"]["nodeName"])
    assert node.metadata.labels["node.kubernetes.io/instance-type"] == "m5.xlarge"
    env.batch.terminate_job(jobId=running["jobId"], reason="done looking")
    _scaled_to_zero(env, "ce")  # a node already up takes pods whatever the fault: it only stops launches
    _faults(env, {"insufficient_capacity": [{"instance_type": "m5.large", "compute_environment": "ce"},
                                             {"instance_type": "m5.xlarge", "compute_environment": "ce"}]})
    blocked = env.submit("q", "one", "blocked")
    _reason(env, blocked, capacity("m5.large"))


def test_a_time_limit_action_cancels_a_job_stuck_on_insufficient_capacity(make_env):
    env = make_env(clock=ManualClock())
    env.ce("spot", spot=True, instance_types=["m5.large"])
    reason = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
    env.queue("q", ["spot"], time_limits=[{"reason": reason, "state": "RUNNABLE", "maxTimeSeconds": 600, "action": "CANCEL"}])
    env.definition("one", ["true"])
    _faults(env, {"insufficient_capacity": [{"instance_type": "m5.large"}]})
    job_id = env.submit("q", "one")
    _reason(env, job_id, capacity("m5.large"))
    env.advance(601)
    done = env.wait(job_id)
    assert done["statusReason"] == f"Canceled by JobStateTimeLimit action due to reason: {reason}"
    assert done["isCancelled"] is True


def test_the_python_call_sets_the_same_fault(make_env):
    from batch_eks_provider.local.scheduling.faults import CapacityFault

    env = make_env()
    env.ce("ce", instance_types=["m5.large"])
    env.queue("q", ["ce"])
    env.definition("one", ["true"])
    env.engine.scheduler.set_insufficient_capacity([CapacityFault(compute_environment="ce")])
    job_id = env.submit("q", "one")
    _reason(env, job_id, capacity("m5.large"))
    env.engine.scheduler.set_insufficient_capacity([])
    assert env.wait(job_id)["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    "body, message",
    [
        ({"insufficient_capacity": {"compute_environment": "ce"}}, "Invalid insufficient_capacity {'compute_environment': 'ce'}: must be a list"),
        ({"insufficient_capacity": [{}]}, "Invalid insufficient_capacity[0] {}: must be an object with 'instance_type', 'compute_environment' or both."),
        ({"insufficient_capacity": [{"zone": "a"}]}, "Invalid insufficient_capacity[0]"),
        ({"insufficient_capacity": [{"instance_type": "m5"}]}, "Invalid insufficient_capacity[0].instance_type 'm5': not an instance type"),
        ({"insufficient_capacity": [{"compute_environment": "nope"}]}, "Invalid compute_environment 'nope': compute environment does not exist."),
        ({"insufficient_capacity": [{"instance_type": 5}]}, "Invalid instance_type 5: must be a non-empty string."),
        ({"pod_start_delay_seconds": -1}, "Invalid pod_start_delay_seconds -1: must be a number of seconds between 0 and 86400."),
        ({"pod_start_delay_seconds": True}, "Invalid pod_start_delay_seconds True"),
        ({"compute_environment": "ce"}, "goes with spot_interruption_rate or pod_start_delay_seconds"),
    ],
)
def test_the_fault_route_refuses_bad_capacity_and_delay_settings_and_changes_nothing(env, body, message):
    with pytest.raises(urllib.error.HTTPError) as raised:
        admin(env.url, "/_local/faults", {**body, "throttle_rate": 0.5})
    assert raised.value.code == 400
    answer = json.loads(raised.value.read())
    assert answer["__type"] == "ClientException" and message in answer["message"]
    settings = admin(env.url, "/_local/faults", {})
    assert settings["throttle_rate"] == 0 and settings["insufficient_capacity"] == []
    assert settings["pod_start_delay_seconds"] == 0
