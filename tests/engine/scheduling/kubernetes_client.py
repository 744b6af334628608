"""A Kubernetes client on the engine of a scheduler test, built as a user builds one on EKS."""

from __future__ import annotations

import base64
import json
import tempfile

import boto3

from tests.engine.scheduling.conftest import CLUSTER_ARN

__all__ = ["core_v1", "kubectl_row"]


def core_v1(env):
    """A CoreV1Api on ``env``'s engine: endpoint and CA from EKS DescribeCluster, a bearer token."""
    from kubernetes import client

    eks = boto3.client("eks", endpoint_url=env.url, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    cluster = eks.describe_cluster(name=CLUSTER_ARN.rsplit("/", 1)[-1])["cluster"]
    configuration = client.Configuration()
    configuration.host = cluster["endpoint"]
    if cluster["endpoint"].startswith("https://"):  # verify the engine against the cluster CA, as on EKS
        with tempfile.NamedTemporaryFile("wb", prefix="engine-ca-", suffix=".crt", delete=False) as ca:
            ca.write(base64.b64decode(cluster["certificateAuthority"]["data"]))
        configuration.ssl_ca_cert = ca.name
    configuration.api_key = {"authorization": "Bearer k8s-aws-v1.anything"}
    return client.CoreV1Api(client.ApiClient(configuration))


def kubectl_row(env, pod_name: str, namespace: str = "batch-jobs") -> list[str]:
    """The pod's row as ``kubectl get pods`` prints it (NAME, READY, STATUS, RESTARTS, AGE): the
    ``meta.k8s.io/v1 Table`` the API server answers kubectl with."""
    answer = core_v1(env).api_client.call_api(
        f"/api/v1/namespaces/{namespace}/pods/{pod_name}", "GET", auth_settings=["BearerToken"], _preload_content=False,
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
    )
    (row,) = json.loads(answer.data)["rows"]
    return [str(cell) for cell in row["cells"]]
