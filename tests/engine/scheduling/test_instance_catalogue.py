"""One instance catalogue: what the provider's "can this job ever fit" check says about a compute environment
is what the engine's placement does with the job."""

from __future__ import annotations

from batch_eks_provider.instance_types import lookup
from batch_eks_provider.hooks.queue_check import ResourceRequirement, compute_environment_report
from tests.support.waits import wait_for

LARGEST_M5 = lookup("m5.24xlarge")


def _provider_fit(env, ce: str, cpu: str, memory: str):
    described = env.describe_ce(ce)
    return compute_environment_report(described, ResourceRequirement.of(cpu=cpu, memory=memory)).fit


def test_the_largest_instance_the_provider_knows_is_one_the_engine_launches(make_env):
    env = make_env()
    env.ce("ce", max_vcpus=96, instance_types=["m5"])
    env.queue("q", ["ce"])
    memory = f"{LARGEST_M5.allocatable_memory_mib}Mi"
    assert _provider_fit(env, "ce", "96", memory) is None
    env.definition("whole-node", ["true"], cpu="96", memory=memory)
    done = env.wait(env.submit("q", "whole-node"))
    assert done["status"] == "SUCCEEDED"


def test_one_mebibyte_more_is_refused_by_both(make_env):
    env = make_env()
    env.ce("ce", max_vcpus=96, instance_types=["m5"])
    env.queue("q", ["ce"])
    memory = f"{LARGEST_M5.allocatable_memory_mib + 1}Mi"
    problem = _provider_fit(env, "ce", "96", memory)
    assert problem is not None and problem.field == "memory"
    env.definition("too-big", ["true"], cpu="96", memory=memory)
    job_id = env.submit("q", "too-big")
    job = wait_for(lambda: (j := env.job(job_id)).get("statusReason") and j, timeout=5, what="status reason")
    assert job["status"] == "RUNNABLE"
    assert job["statusReason"].startswith("MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT")


def test_graviton_types_the_provider_knows_run_on_arm64_nodes(make_env):
    env = make_env()
    env.ce("arm", max_vcpus=8, instance_types=["default_arm64"])
    env.queue("arm-q", ["arm"])
    assert env.describe_ce("arm")["status"] == "VALID"
    env.definition("slow", ["sleep", "30"])
    job_id = env.submit("arm-q", "slow")
    running = env.wait_status(job_id, "RUNNING")
    node = env.engine.state.nodes[running["eksProperties"]["podProperties"]["nodeName"]]
    assert lookup(node.instance_type).architecture == "arm64"
    assert node.labels["kubernetes.io/arch"] == "arm64"
    env.batch.terminate_job(jobId=job_id, reason="done looking")
