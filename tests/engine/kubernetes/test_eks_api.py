"""EKS DescribeCluster / ListClusters: boto3, the AWS CLI, and the wire shapes against botocore's model."""

from __future__ import annotations

import base64

import pytest

from tests.support.aws import assert_output_shape, aws_cli, aws_client, raw_aws
from tests.support.blueprint import CLUSTER, create_eks_compute_environment


def test_describe_cluster_points_at_the_engine(engine):
    eks = aws_client("eks", engine.url)
    cluster = eks.describe_cluster(name=CLUSTER)["cluster"]
    assert cluster["name"] == CLUSTER
    assert cluster["arn"] == f"arn:aws:eks:us-east-1:123456789012:cluster/{CLUSTER}"
    assert cluster["endpoint"] == engine.kubernetes_url  # https, as EKS serves a cluster endpoint
    assert cluster["status"] == "ACTIVE"
    assert cluster["version"] == "1.30"
    assert base64.b64decode(cluster["certificateAuthority"]["data"], validate=True) == engine.ca_path.read_bytes()
    status, body = raw_aws(engine.url, "GET", f"/clusters/{CLUSTER}")
    assert status == 200
    assert_output_shape("eks", "DescribeCluster", body)


def test_unknown_cluster_is_resource_not_found(engine):
    eks = aws_client("eks", engine.url)
    with pytest.raises(eks.exceptions.ResourceNotFoundException) as raised:
        eks.describe_cluster(name="no-such-cluster")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert raised.value.response["Error"]["Message"] == "No cluster found for name: no-such-cluster."


def test_a_compute_environment_on_a_new_cluster_makes_it_exist(engine, batch):
    eks = aws_client("eks", engine.url)
    assert eks.list_clusters()["clusters"] == [CLUSTER]
    create_eks_compute_environment(batch, "other-ce", cluster="analytics", namespace="analytics")
    assert eks.list_clusters()["clusters"] == ["analytics", CLUSTER]
    assert [
        c
        for page in eks.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 1})
        for c in page["clusters"]
    ] == ["analytics", CLUSTER]
    assert eks.describe_cluster(name="analytics")["cluster"]["resourcesVpcConfig"]["subnetIds"] == [
        "subnet-1"
    ]
    status, body = raw_aws(engine.url, "GET", "/clusters")
    assert_output_shape("eks", "ListClusters", body)


def test_aws_cli_describe_cluster(engine):
    out = aws_cli("eks", "describe-cluster", "--name", CLUSTER, "--endpoint-url", engine.url,
                  "--query", "cluster.[status,endpoint]", "--output", "text")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ACTIVE", engine.kubernetes_url]
