"""Every way a pod goes (retention timer, Kubernetes delete of an ended or a running pod) removes its record,
its log lines and its work directory."""

from __future__ import annotations

import boto3
import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.engine.scheduling.conftest import NAMESPACE


def _core(env):
    """A CoreV1Api on the engine's cluster, its endpoint from EKS DescribeCluster."""
    eks = boto3.client(
        "eks", endpoint_url=env.url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    configuration = client.Configuration()
    configuration.host = eks.describe_cluster(name="test-cluster")["cluster"]["endpoint"]
    configuration.ssl_ca_cert = str(env.local.ca_path)  # the https endpoint's cluster CA
    configuration.api_key = {"authorization": "Bearer k8s-aws-v1.anything"}
    return client.CoreV1Api(client.ApiClient(configuration))


def test_deleting_an_ended_pod_through_kubernetes_removes_its_work_dir(manual):
    manual.definition("hello", ["sh", "-c", "echo hello > out.txt; echo hello"])
    job = manual.wait(manual.submit("q", "hello"))
    assert job["status"] == "SUCCEEDED"
    pod_name = job["eksAttempts"][-1]["podName"]
    work_dir = manual.engine.scheduler.runtime.work_root / pod_name
    assert work_dir.is_dir()  # kept with the pod for the retention time (the manual clock does not move)

    _core(manual).delete_namespaced_pod(pod_name, NAMESPACE)

    assert not work_dir.exists()
    assert pod_name not in manual.engine.state.pods
    with pytest.raises(ApiException) as raised:
        _core(manual).read_namespaced_pod(pod_name, NAMESPACE)
    assert raised.value.status == 404
