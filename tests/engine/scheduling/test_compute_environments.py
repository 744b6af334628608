"""Managed EKS compute environments: nodes for demand, minvCpus, live updates, DISABLED, misfits, INVALID."""

from __future__ import annotations

import pytest

from batch_eks_provider.local.scheduling.capacity import node_labels
from tests.support.waits import wait_for


def _nodes(env, ce_name):
    return [n for n in env.engine.state.nodes.values() if n.ce_name == ce_name and n.status != "Terminating"]


def _vcpus(env, ce_name):
    return sum(n.vcpus for n in _nodes(env, ce_name))


def test_nodes_launch_for_demand_up_to_max_and_go_when_idle(make_env):
    env = make_env(node_idle_seconds=0.5)
    env.ce("ce", max_vcpus=8, instance_types=["m5.large"])  # 2 vCPUs per node
    env.queue("q", ["ce"])
    assert _nodes(env, "ce") == []
    env.definition("two", ["sleep", "0.5"], cpu="2")
    ids = [env.submit("q", "two", f"j{i}") for i in range(6)]
    wait_for(lambda: len(_nodes(env, "ce")) == 4, timeout=10, what="4 nodes")
    assert max_running_seen(env, ids) <= 4
    for job_id in ids:
        assert env.wait(job_id)["status"] == "SUCCEEDED"
    assert all(n.instance_type == "m5.large" for n in _nodes(env, "ce"))
    wait_for(lambda: _nodes(env, "ce") == [], timeout=10, what="idle nodes to go")


def max_running_seen(env, ids):
    running = 0
    for _ in range(20):
        jobs = env.jobs(ids)
        running = max(running, sum(j["status"] == "RUNNING" for j in jobs))
        if all(j["status"] in ("SUCCEEDED", "FAILED") for j in jobs):
            break
    return running


def test_min_vcpus_prewarms_and_scale_to_zero_removes_nodes(make_env):
    env = make_env(node_idle_seconds=0.2)
    env.ce("ce", max_vcpus=16, min_vcpus=0)
    env.queue("q", ["ce"])
    assert _vcpus(env, "ce") == 0
    env.batch.update_compute_environment(computeEnvironment="ce", computeResources={"minvCpus": 8})
    wait_for(lambda: _vcpus(env, "ce") >= 8, timeout=10, what="pre-warmed nodes")
    assert env.describe_ce("ce")["status"] == "VALID"
    env.batch.update_compute_environment(computeEnvironment="ce", computeResources={"minvCpus": 0, "maxvCpus": 0})
    wait_for(lambda: _vcpus(env, "ce") == 0, timeout=10, what="scale to zero")
    env.definition("one", ["true"])
    job_id = env.submit("q", "one")
    wait_for(lambda: env.job(job_id)["status"] == "RUNNABLE", timeout=5, what="runnable")
    env.batch.update_compute_environment(computeEnvironment="ce", computeResources={"maxvCpus": 4})
    assert env.wait(job_id)["status"] == "SUCCEEDED"


def test_disabled_queue_and_ce_take_no_new_work(env):
    env.definition("one", ["true"])
    env.batch.update_compute_environment(computeEnvironment="ce", state="DISABLED")
    waiting = env.submit("q", "one", "waiting")
    env.settle()
    assert env.job(waiting)["status"] == "RUNNABLE"
    assert _nodes(env, "ce") == []  # a DISABLED CE does not scale out
    env.batch.update_job_queue(jobQueue="q", state="DISABLED")
    with pytest.raises(env.batch.exceptions.ClientException, match="DISABLED"):
        env.submit("q", "one", "rejected")
    env.batch.update_compute_environment(computeEnvironment="ce", state="ENABLED")
    # jobs already in a DISABLED queue can still finish
    assert env.wait(waiting)["status"] == "SUCCEEDED"


def test_a_job_asking_more_vcpus_than_max_vcpus_stays_runnable_with_a_misconfiguration_reason(env):
    env.definition("huge", ["true"], cpu="32")  # maxvCpus 16
    job_id = env.submit("q", "huge")
    job = wait_for(lambda: (j := env.job(job_id)).get("statusReason") and j, timeout=5, what="status reason")
    assert job["status"] == "RUNNABLE"
    assert job["statusReason"].startswith("MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE")
    env.batch.update_compute_environment(computeEnvironment="ce", computeResources={"maxvCpus": 64})
    assert env.wait(job_id)["status"] == "SUCCEEDED"


def test_memory_beyond_every_instance_type_is_a_misfit_too(env):
    env.definition("fat", ["true"], memory="900000Mi")
    job_id = env.submit("q", "fat")
    job = wait_for(lambda: (j := env.job(job_id)).get("statusReason") and j, timeout=5, what="status reason")
    assert job["statusReason"].startswith("MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT")


def test_time_limit_action_cancels_a_stuck_runnable_job(make_env):
    from batch_eks_provider.local.clock import ManualClock

    env = make_env(clock=ManualClock())
    env.ce("ce", max_vcpus=4)
    reason = "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE"
    env.queue("q", ["ce"], time_limits=[{"reason": reason, "state": "RUNNABLE", "maxTimeSeconds": 600, "action": "CANCEL"}])
    env.definition("huge", ["true"], cpu="8")
    env.definition("fits", ["sleep", "1000"], cpu="4")
    stuck = env.submit("q", "huge")
    waiting = env.submit("q", "fits", "fits")  # runs; not blocked by a misconfiguration
    wait_for(lambda: env.job(stuck).get("statusReason"), timeout=5, what="status reason")
    env.wait_status(waiting, "RUNNING")
    env.advance(599)
    assert env.job(stuck)["status"] == "RUNNABLE"
    env.advance(2)
    done = env.wait(stuck)
    assert done["statusReason"] == f"Canceled by JobStateTimeLimit action due to reason: {reason}"
    assert done["isCancelled"] is True
    assert env.job(waiting)["status"] == "RUNNING"


def test_a_ce_on_an_unsupported_cluster_version_is_invalid(make_env):
    env = make_env(eks_cluster_versions={"old-cluster": "1.22"})
    env.ce("bad", cluster="arn:aws:eks:us-east-1:123456789012:cluster/old-cluster")
    ce = env.describe_ce("bad")
    assert ce["status"] == "INVALID"
    assert ce["statusReason"].startswith("CLIENT_ERROR - ")
    assert "EKS Cluster version [1.22] is unsupported" in ce["statusReason"]
    env.ce("good")
    assert env.describe_ce("good")["status"] == "VALID"
    # the cluster gets upgraded; the next update of the CE validates it again
    env.engine.set_eks_cluster_version("old-cluster", "1.30")
    env.batch.update_compute_environment(computeEnvironment="bad", computeResources={"maxvCpus": 8})
    wait_for(lambda: env.describe_ce("bad")["status"] == "VALID", timeout=5, what="CE valid again")
    assert "statusReason" not in env.describe_ce("bad")


def test_jobs_go_to_compute_environments_in_order(make_env):
    env = make_env()
    env.ce("first", max_vcpus=2, instance_types=["m5.large"])
    env.ce("second", max_vcpus=16)
    env.queue("q", ["first", "second"])
    env.definition("two", ["sleep", "1"], cpu="2")
    ids = [env.submit("q", "two", f"j{i}") for i in range(3)]
    jobs = [env.wait(i) for i in ids]
    ces = [env.engine.state.jobs[j["jobId"]].ce_name for j in jobs]
    assert ces[0] == "first"
    assert ces.count("second") == 2


def test_nodes_carry_batch_labels_and_taints(env):
    env.definition("one", ["true"])
    job = env.wait(env.submit("q", "one"))
    node_name = job["eksAttempts"][0]["nodeName"]
    node = env.engine.state.nodes[node_name]
    ce = env.engine.state.compute_environments["ce"]
    assert node_name.startswith("ip-") and node_name.endswith(".ec2.internal")
    assert node.labels == node_labels(node, ce)
    assert node.labels["batch.amazonaws.com/compute-environment-uuid"] == env.describe_ce("ce")["uuid"]
    assert node.labels["node.kubernetes.io/instance-type"] == node.instance_type
    assert {(t["key"], t["effect"]) for t in node.taints} == {
        ("batch.amazonaws.com/batch-node", "NoSchedule"),
        ("batch.amazonaws.com/batch-node", "NoExecute"),
    }
