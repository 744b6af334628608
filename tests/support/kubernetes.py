"""The Kubernetes API of the engine as a user reaches it on EKS: a client built from DescribeCluster, and a
job's pod once it runs."""

from __future__ import annotations

import base64
import tempfile

from tests.support.waits import wait_for
from tests.support.aws import aws_client
from tests.support.blueprint import CLUSTER, NAMESPACE

__all__ = ["core_v1", "running_pod"]


def core_v1(url: str, cluster: str = CLUSTER):
    """A CoreV1Api built the way a user builds it on EKS: the endpoint from DescribeCluster, a bearer token."""
    from kubernetes import client

    described = aws_client("eks", url).describe_cluster(name=cluster)["cluster"]
    configuration = client.Configuration()
    configuration.host = described["endpoint"]
    if described["endpoint"].startswith("https://"):  # verify the engine against the cluster CA, as on EKS
        with tempfile.NamedTemporaryFile("wb", prefix="engine-ca-", suffix=".crt", delete=False) as ca:
            ca.write(base64.b64decode(described["certificateAuthority"]["data"]))
        configuration.ssl_ca_cert = ca.name
    configuration.api_key = {"authorization": "Bearer k8s-aws-v1.anything"}
    return client.CoreV1Api(client.ApiClient(configuration))


def running_pod(core, job_id: str, namespace: str = NAMESPACE, timeout: float = 20.0):
    """The pod of a job, once it exists and runs."""

    def find():
        pods = core.list_namespaced_pod(namespace, label_selector=f"batch.amazonaws.com/job-id={job_id}").items
        return pods[0] if pods and pods[0].status.phase == "Running" else None

    return wait_for(find, timeout=timeout, what=f"the pod of job {job_id} to run")
