"""Pre-warm then scale to zero against an engine on a ManualClock: desiredvCpus is Batch's (what it wants now),
so once minvCpus is 0 and the nodes have been idle for ``node_idle_seconds`` they go and desiredvCpus is 0."""

from __future__ import annotations

import boto3
import pytest
from kubernetes import client as k8s_client

from batch_eks_provider.local import LocalEngine
from batch_eks_provider.local.clock import ManualClock
from batch_eks_provider.local.store.state import EngineConfig
from tests.support.provider import aws_connection_json as aws_connection_uri, post_admin
from tests.support.waits import wait_for

CE = "doeks-CE1_OD"
IDLE_SECONDS = 30.0


@pytest.fixture
def manual_engine(tmp_path, monkeypatch):
    config = EngineConfig(node_startup_seconds=0.0, node_idle_seconds=IDLE_SECONDS, random_seed=3)
    with LocalEngine(blueprint="data-on-eks", state_dir=tmp_path / "engine", config=config, clock=ManualClock()) as running:
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_uri(running.url))
        yield running


def _desired(batch) -> int:
    (ce,) = batch.describe_compute_environments(computeEnvironments=[CE])["computeEnvironments"]
    return ce["computeResources"]["desiredvCpus"]


def _node_vcpus(core: k8s_client.CoreV1Api) -> int:
    nodes = core.list_node(label_selector=f"batch.amazonaws.com/compute-environment-name={CE}").items
    return sum(int(node.status.capacity["cpu"]) for node in nodes)


def test_scale_to_zero_removes_idle_nodes_and_desired_vcpus_follows(manual_engine):
    from batch_eks_provider.hooks.compute_environment import BatchEksComputeEnvironmentHook

    hook = BatchEksComputeEnvironmentHook(aws_conn_id="aws_default")
    batch = boto3.client("batch", endpoint_url=manual_engine.url, region_name="us-east-1")
    configuration = k8s_client.Configuration(host=manual_engine.url)
    configuration.api_key = {"authorization": "Bearer local"}
    core = k8s_client.CoreV1Api(k8s_client.ApiClient(configuration))
    scheduler = manual_engine.engine.scheduler

    def after_a_pass() -> None:
        target = scheduler.passes + 2
        wait_for(lambda: (scheduler.wake_threadsafe(), scheduler.passes >= target)[1], timeout=10, what="scheduler passes")

    hook.pre_warm(CE, 16)
    wait_for(lambda: _node_vcpus(core) >= 16, timeout=10, what="16 pre-warmed vCPUs")
    assert _desired(batch) == _node_vcpus(core) == 16

    hook.scale_to_zero(CE)
    after_a_pass()
    assert _node_vcpus(core) == 16, "nodes that have not been idle long enough stay"
    post_admin(manual_engine.url, "/_local/clock/advance", {"seconds": IDLE_SECONDS + 1})
    wait_for(lambda: _node_vcpus(core) == 0, timeout=10, what="idle nodes to go")
    assert _desired(batch) == 0
    assert hook.describe(CE)["computeResources"]["minvCpus"] == 0
