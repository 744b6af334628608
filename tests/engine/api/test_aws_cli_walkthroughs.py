"""The seed walkthroughs, with the real AWS CLI (``aws batch ... --endpoint-url``) against the engine.

Seed 000 ("Getting started with AWS Batch on Amazon EKS"): create-compute-environment --cli-input-json
with eksConfiguration, create-job-queue, register-job-definition (MyJobOnEks_Sleep, its sleep cut to
1 second), submit-job, describe-jobs, and the eksAttempts podName/nodeName query. Seed 001 (data-on-eks
blueprint): submit-job ... --output text --query jobId, then the jobId/status query.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.waits import wait_for_job

AWS = Path(sys.executable).with_name("aws")
ACCOUNT = "123456789012"

COMPUTE_ENVIRONMENT = {
    "computeEnvironmentName": "My-Eks-CE1",
    "type": "MANAGED",
    "state": "ENABLED",
    "eksConfiguration": {
        "eksClusterArn": f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/doeks-batch",
        "kubernetesNamespace": "my-aws-batch-namespace",
    },
    "computeResources": {
        "type": "EC2",
        "allocationStrategy": "BEST_FIT_PROGRESSIVE",
        "minvCpus": 0,
        "maxvCpus": 128,
        "instanceTypes": ["m5"],
        "subnets": ["subnet-0a1b2c3d4e5f60001"],
        "securityGroupIds": ["sg-0a1b2c3d4e5f60001"],
        "instanceRole": f"arn:aws:iam::{ACCOUNT}:instance-profile/eksNodeRole",
    },
}
JOB_QUEUE = {
    "jobQueueName": "My-Eks-JQ1",
    "priority": 10,
    "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "My-Eks-CE1"}],
}
JOB_DEFINITION = {
    "jobDefinitionName": "MyJobOnEks_Sleep",
    "type": "container",
    "eksProperties": {
        "podProperties": {
            "hostNetwork": True,
            "containers": [
                {
                    "image": "public.ecr.aws/amazonlinux/amazonlinux:2",
                    "command": ["sleep", "1"],
                    "resources": {"limits": {"cpu": "1", "memory": "1024Mi"}},
                }
            ],
            "metadata": {"labels": {"environment": "test"}},
        }
    },
}

pytestmark = pytest.mark.skipif(not AWS.exists(), reason="the AWS CLI comes with the [test] extra")


@pytest.fixture
def aws(engine, tmp_path):
    """Run ``aws batch <args>`` against the engine; returns stdout (raises with stderr on failure)."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_PAGER": "",
    }
    env.pop("AWS_PROFILE", None)

    def run(*args: str) -> str:
        result = subprocess.run(
            [str(AWS), "batch", *args, "--endpoint-url", engine.url], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )
        assert result.returncode == 0, f"aws batch {' '.join(args)} failed:\n{result.stderr}"
        return result.stdout

    return run


def test_seed_000_getting_started_walkthrough(aws, batch, engine, tmp_path):
    for name, body in (("ce", COMPUTE_ENVIRONMENT), ("jq", JOB_QUEUE), ("jd", JOB_DEFINITION)):
        (tmp_path / f"batch-eks-{name}.json").write_text(json.dumps(body))

    created = json.loads(aws("create-compute-environment", "--cli-input-json", "file://./batch-eks-ce.json"))
    assert created == {
        "computeEnvironmentName": "My-Eks-CE1",
        "computeEnvironmentArn": f"arn:aws:batch:us-east-1:{ACCOUNT}:compute-environment/My-Eks-CE1",
    }
    described = json.loads(aws("describe-compute-environments", "--compute-environments", "My-Eks-CE1"))
    (ce,) = described["computeEnvironments"]
    assert ce["eksConfiguration"]["kubernetesNamespace"] == "my-aws-batch-namespace"
    assert ce["containerOrchestrationType"] == "EKS"

    queue = json.loads(aws("create-job-queue", "--cli-input-json", "file://./batch-eks-jq.json"))
    assert queue == {"jobQueueName": "My-Eks-JQ1", "jobQueueArn": f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/My-Eks-JQ1"}
    definition = json.loads(aws("register-job-definition", "--cli-input-json", "file://./batch-eks-jd.json"))
    assert definition == {
        "jobDefinitionName": "MyJobOnEks_Sleep",
        "jobDefinitionArn": f"arn:aws:batch:us-east-1:{ACCOUNT}:job-definition/MyJobOnEks_Sleep:1",
        "revision": 1,
    }

    submitted = json.loads(aws("submit-job", "--job-queue", "My-Eks-JQ1", "--job-definition", "MyJobOnEks_Sleep", "--job-name", "My-eks-Job1"))
    assert set(submitted) == {"jobArn", "jobName", "jobId"} and submitted["jobName"] == "My-eks-Job1"
    job_id = submitted["jobId"]
    assert wait_for_job(batch, job_id)["status"] == "SUCCEEDED"

    (job,) = json.loads(aws("describe-jobs", "--jobs", job_id))["jobs"]
    pod = job["eksProperties"]["podProperties"]
    # what the definition gave, and no dnsPolicy it did not give (botocore's EksPodPropertiesDetail.dnsPolicy)
    assert (job["status"], pod["hostNetwork"]) == ("SUCCEEDED", True) and "dnsPolicy" not in pod
    assert pod["containers"][0]["command"] == ["sleep", "1"]
    attempts = json.loads(aws("describe-jobs", "--jobs", job_id, "--query", "jobs[].eksAttempts[].{nodeName: nodeName, podName: podName}"))
    assert len(attempts) == 1
    assert attempts[0]["podName"].startswith("aws-batch.") and attempts[0]["nodeName"].endswith(".ec2.internal")
    # the pod's spec, as seed 000's pod YAML of this definition shows it: hostNetwork true, dnsPolicy ClusterFirst
    k8s_pod = _core_v1(engine, "doeks-batch", tmp_path / "ca.crt").read_namespaced_pod(attempts[0]["podName"], "my-aws-batch-namespace")
    assert (k8s_pod.spec.host_network, k8s_pod.spec.dns_policy, k8s_pod.spec.restart_policy) == (True, "ClusterFirst", "Never")
    described = json.loads(aws("describe-job-definitions", "--job-definitions", "MyJobOnEks_Sleep:1"))
    (definition,) = described["jobDefinitions"]
    assert definition["eksProperties"]["podProperties"]["hostNetwork"] is True
    assert "dnsPolicy" not in definition["eksProperties"]["podProperties"]


def _core_v1(engine, cluster_name: str, ca_file: Path):
    """A Kubernetes client as a user makes one on EKS: DescribeCluster's endpoint and CA, a bearer token."""
    import boto3
    from kubernetes import client

    eks = boto3.client("eks", endpoint_url=engine.url, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    cluster = eks.describe_cluster(name=cluster_name)["cluster"]
    configuration = client.Configuration()
    configuration.host = cluster["endpoint"]
    ca_file.write_bytes(base64.b64decode(cluster["certificateAuthority"]["data"]))
    configuration.ssl_ca_cert = str(ca_file)
    configuration.api_key = {"authorization": "Bearer k8s-aws-v1.anything"}
    return client.CoreV1Api(client.ApiClient(configuration))


def test_seed_001_data_on_eks_hello_world(aws, batch):
    job_id = aws(
        "submit-job", "--job-definition", "doeks-hello-world", "--job-queue", "doeks-JQ1_OD",
        "--job-name", "doeks_hello_example", "--output", "text", "--query", "jobId",
    ).strip()
    assert len(job_id) == 36 and job_id.count("-") == 4
    assert wait_for_job(batch, job_id)["status"] == "SUCCEEDED"
    assert json.loads(aws("describe-jobs", "--jobs", job_id, "--query", "jobs[].[jobId,status]")) == [[job_id, "SUCCEEDED"]]
    (attempt,) = json.loads(aws("describe-jobs", "--jobs", job_id, "--query", "jobs[].eksAttempts[].{nodeName: nodeName, podName: podName}"))
    assert attempt["podName"].startswith("aws-batch.")


def test_cli_errors_are_aws_client_exceptions(aws, engine, tmp_path):
    result = subprocess.run(
        [str(AWS), "batch", "submit-job", "--job-queue", "doeks-JQ1_OD", "--job-definition", "doeks-hello-world",
         "--job-name", "bad", "--timeout", "attemptDurationSeconds=10", "--endpoint-url", engine.url],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
             "AWS_CONFIG_FILE": str(tmp_path / "none")},
    )
    assert result.returncode != 0
    assert "An error occurred (ClientException) when calling the SubmitJob operation" in result.stderr
    assert "attemptDurationSeconds 10: the minimum timeout is 60 seconds" in result.stderr
