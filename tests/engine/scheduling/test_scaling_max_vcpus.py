"""maxvCpus with BEST_FIT_PROGRESSIVE / SPOT_CAPACITY_OPTIMIZED: Batch "might need to exceed maxvCpus to meet
your capacity requirements", never by more than a single instance."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("spot", [False, True])
def test_a_ce_whose_smallest_instance_exceeds_max_vcpus_still_runs_jobs_on_one_instance(make_env, spot):
    env = make_env()
    env.ce("ce", max_vcpus=1, instance_types=["m5"], spot=spot)  # the smallest m5 (m5.large) has 2 vCPUs
    env.queue("q", ["ce"])
    env.definition("one", ["sleep", "0.2"], cpu="1")
    ids = [env.submit("q", "one", f"j{i}") for i in range(3)]
    jobs = [env.wait(job_id) for job_id in ids]
    assert [j["status"] for j in jobs] == ["SUCCEEDED"] * 3
    nodes = {j["eksAttempts"][-1]["nodeName"] for j in jobs}
    assert len(nodes) == 1  # past maxvCpus by one instance, not more
    assert env.describe_ce("ce")["computeResources"]["desiredvCpus"] <= 1


def test_a_job_asking_for_more_vcpus_than_max_vcpus_is_misconfigured(make_env):
    env = make_env()
    env.ce("ce", max_vcpus=1, instance_types=["m5"])
    env.queue("q", ["ce"])
    env.definition("two", ["true"], cpu="2")
    job_id = env.submit("q", "two")
    env.settle()
    job = env.job(job_id)
    assert job["status"] == "RUNNABLE"
    assert job["statusReason"].startswith("MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE")
    assert env.engine.state.nodes == {}


def test_min_vcpus_below_the_smallest_instance_prewarms_one_instance(make_env):
    env = make_env(node_idle_seconds=0.1)
    env.ce("ce", max_vcpus=1, min_vcpus=1, instance_types=["m5"])
    env.settle()
    env.settle()  # idle past node_idle_seconds: the node is kept for minvCpus
    assert [n.instance_type for n in env.engine.state.nodes.values()] == ["m5.large"]
