"""The data-on-eks blueprint as the tests use it: its names, a job of one shell command on its queue, a gated
job, and one more EKS compute environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "ACCOUNT",
    "CLUSTER",
    "DEFINITION",
    "LOG_GROUP",
    "NAMESPACE",
    "QUEUE",
    "create_eks_compute_environment",
    "submit_command",
    "submit_gated_job",
]

ACCOUNT = "123456789012"
QUEUE = "doeks-JQ1_OD"
DEFINITION = "doeks-hello-world"
NAMESPACE = "doeks-aws-batch"
CLUSTER = "doeks-batch"
LOG_GROUP = f"/aws/containerinsights/{CLUSTER}/application"


def submit_command(batch, script: str, name: str = "k8s-test", *, queue: str = QUEUE, **params: Any) -> str:
    """Submit the blueprint's hello-world definition running ``sh -c script`` on ``queue``; more SubmitJob
    ``params`` (``retryStrategy``...) as given. Returns the job id."""
    override = {"podProperties": {"containers": [{"command": ["sh", "-c", script], "args": []}]}}
    return batch.submit_job(
        jobName=name, jobQueue=queue, jobDefinition=DEFINITION, eksPropertiesOverride=override, **params
    )["jobId"]


def submit_gated_job(batch, gate: Path, before: str = "first", after: str = "second") -> str:
    """A job that prints ``before``, waits until the test creates ``gate``, prints ``after`` and exits 0."""
    script = f"echo {before}; while [ ! -f {gate} ]; do sleep 0.02; done; echo {after}"
    return submit_command(batch, script, name="gated")


def create_eks_compute_environment(
    batch, name: str, *, namespace: str, cluster: str = CLUSTER, state: str = "ENABLED"
) -> str:
    """A managed EC2 compute environment of up to 8 m5 vCPUs on EKS ``cluster``, its pods in ``namespace``
    (a cluster the engine does not know yet comes to exist). Returns its ARN."""
    return batch.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        state=state,
        eksConfiguration={
            "eksClusterArn": f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/{cluster}",
            "kubernetesNamespace": namespace,
        },
        computeResources={
            "type": "EC2",
            "allocationStrategy": "BEST_FIT_PROGRESSIVE",
            "minvCpus": 0,
            "maxvCpus": 8,
            "instanceTypes": ["m5"],
            "subnets": ["subnet-1"],
            "securityGroupIds": ["sg-1"],
            "instanceRole": f"arn:aws:iam::{ACCOUNT}:instance-profile/x",
        },
    )["computeEnvironmentArn"]
