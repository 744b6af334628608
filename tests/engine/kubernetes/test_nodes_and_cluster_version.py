"""The Kubernetes nodes show what capacity gave them (labels, taints, zone) and the EKS cluster reports its
version, the same one that decides whether a compute environment is VALID."""

from __future__ import annotations

import json
import urllib.request

from tests.support.waits import wait_for
from tests.support.aws import aws_client
from tests.support.blueprint import CLUSTER
from tests.support.kubernetes import core_v1

CE = "doeks-CE1_OD"


def test_a_node_carries_the_labels_taints_and_zone_it_was_launched_with(engine, batch):
    batch.update_compute_environment(computeEnvironment=CE, computeResources={"minvCpus": 2})
    core = core_v1(engine.url)
    nodes = wait_for(
        lambda: core.list_node(label_selector=f"batch.amazonaws.com/compute-environment-name={CE}").items,
        timeout=10,
        what="a pre-warmed node",
    )
    record = engine.engine.state.nodes[nodes[0].metadata.name]
    assert nodes[0].metadata.labels == record.labels
    assert nodes[0].metadata.labels["batch.amazonaws.com/capacity-type"] == "ON_DEMAND"
    assert nodes[0].metadata.labels["topology.kubernetes.io/zone"] == record.zone
    assert nodes[0].spec.provider_id == f"aws:///{record.zone}/{record.instance_id}"
    assert [(t.key, t.effect) for t in nodes[0].spec.taints] == [(t["key"], t["effect"]) for t in record.taints]
    assert nodes[0].status.node_info.kubelet_version.startswith("v1.30.")


def test_describe_cluster_reports_the_version_set_on_the_engine(engine):
    request = urllib.request.Request(
        f"{engine.url}/_local/clusters/{CLUSTER}",
        data=json.dumps({"version": "1.22"}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["version"] == "1.22"
    cluster = aws_client("eks", engine.url).describe_cluster(name=CLUSTER)["cluster"]
    assert cluster["version"] == "1.22"
