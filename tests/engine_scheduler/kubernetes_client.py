"""A Kubernetes client on the engine of a scheduler test, built as a user builds one on EKS."""

from __future__ import annotations

import base64
import tempfile

import boto3

from tests.engine_scheduler.conftest import CLUSTER_ARN

__all__ = ["core_v1"]


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
