"""The pod defaults Batch documents, through boto3 and the Kubernetes client: DescribeJobDefinitions and
DescribeJobs echo ``hostNetwork``/``dnsPolicy`` only when given; the pod's spec has ``hostNetwork`` true by
default and ``dnsPolicy`` ClusterFirst, or ClusterFirstWithHostNet when ``hostNetwork`` was not given at all
(botocore's EksPodProperties docs; seed 000's pod of a ``hostNetwork: true`` definition); a pod off the host
network has an IP of its own, its ``hostIP`` its node's."""

from __future__ import annotations

import pytest

from tests.engine.scheduling.kubernetes_client import core_v1

NAMESPACE = "batch-jobs"


@pytest.mark.parametrize(
    ("given", "host_network", "dns_policy"),
    [
        ({}, True, "ClusterFirstWithHostNet"),
        ({"hostNetwork": True}, True, "ClusterFirst"),
        ({"hostNetwork": False}, False, "ClusterFirst"),
        ({"hostNetwork": True, "dnsPolicy": "Default"}, True, "Default"),
        ({"dnsPolicy": "ClusterFirst"}, True, "ClusterFirst"),
    ],
    ids=["nothing-given", "host-network", "own-network", "dns-default", "dns-only"],
)
def test_pod_network_defaults(env, given, host_network, dns_policy):
    env.definition("net", ["true"], pod=given)
    (definition,) = env.batch.describe_job_definitions(jobDefinitionName="net")["jobDefinitions"]
    echoed = {k: v for k, v in definition["eksProperties"]["podProperties"].items() if k in ("hostNetwork", "dnsPolicy")}
    assert echoed == given
    done = env.wait(env.submit("q", "net"))
    assert done["status"] == "SUCCEEDED", done.get("statusReason")
    described = {k: v for k, v in done["eksProperties"]["podProperties"].items() if k in ("hostNetwork", "dnsPolicy")}
    assert described == given

    pod = core_v1(env).read_namespaced_pod(done["eksAttempts"][0]["podName"], NAMESPACE)  # kept for the pod retention
    assert (pod.spec.host_network, pod.spec.dns_policy) == (host_network, dns_policy)
    node_ip = ".".join(pod.spec.node_name.split(".", 1)[0].split("-")[1:5])  # ip-10-0-1-2.ec2.internal
    assert pod.status.host_ip == node_ip and [ip.ip for ip in pod.status.host_ips] == [node_ip]
    assert [ip.ip for ip in pod.status.pod_ips] == [pod.status.pod_ip]
    if host_network:
        assert pod.status.pod_ip == node_ip
    else:
        assert pod.status.pod_ip != node_ip and pod.status.pod_ip.split(".")[:2] == node_ip.split(".")[:2]
