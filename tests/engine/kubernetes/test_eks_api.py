"""EKS DescribeCluster / ListClusters: boto3, the AWS CLI, and the wire shapes against botocore's model."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest

from tests.engine.kubernetes.support import CLUSTER, assert_output_shape, aws_client, raw_aws


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
    batch.create_compute_environment(
        computeEnvironmentName="other-ce",
        type="MANAGED",
        eksConfiguration={
            "eksClusterArn": "arn:aws:eks:us-east-1:123456789012:cluster/analytics",
            "kubernetesNamespace": "analytics",
        },
        computeResources={
            "type": "EC2",
            "allocationStrategy": "BEST_FIT_PROGRESSIVE",
            "minvCpus": 0,
            "maxvCpus": 8,
            "instanceTypes": ["m5"],
            "subnets": ["subnet-1"],
            "securityGroupIds": ["sg-1"],
            "instanceRole": "arn:aws:iam::123456789012:instance-profile/x",
        },
    )
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
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "awscli",
            "eks",
            "describe-cluster",
            "--name",
            CLUSTER,
            "--endpoint-url",
            engine.url,
            "--query",
            "cluster.[status,endpoint]",
            "--output",
            "text",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ACTIVE", engine.kubernetes_url]
