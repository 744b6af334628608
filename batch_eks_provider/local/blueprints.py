"""Ready-made environments for ``batch-eks local serve --blueprint NAME``.

``data-on-eks`` creates what the data-on-eks "AWS Batch on EKS" blueprint's Terraform creates: an
on-demand and a Spot compute environment on cluster ``doeks-batch`` in namespace ``doeks-aws-batch``,
the job queues ``doeks-JQ1_OD`` and ``doeks-JQ1_SPOT``, and the job definition ``doeks-hello-world``
that echoes "Hello World!".
"""

from __future__ import annotations

from typing import Any, Callable

from .errors import ClientException
from .service import compute_environments, job_definitions, job_queues

__all__ = ["BLUEPRINTS", "apply_blueprint", "DATA_ON_EKS"]

DATA_ON_EKS = {
    "cluster_name": "doeks-batch",
    "namespace": "doeks-aws-batch",
    "on_demand_ce": "doeks-CE1_OD",
    "spot_ce": "doeks-CE1_SPOT",
    "on_demand_queue": "doeks-JQ1_OD",
    "spot_queue": "doeks-JQ1_SPOT",
    "job_definition": "doeks-hello-world",
}


def _data_on_eks(engine: Any) -> None:
    state = engine.state
    cfg = state.config
    if DATA_ON_EKS["on_demand_queue"] in state.job_queues:
        return  # already there (state restored from --state-dir)
    cluster_arn = f"arn:aws:eks:{cfg.region}:{cfg.account_id}:cluster/{DATA_ON_EKS['cluster_name']}"
    for ce_name, ce_type, strategy in (
        (DATA_ON_EKS["on_demand_ce"], "EC2", "BEST_FIT_PROGRESSIVE"),
        (DATA_ON_EKS["spot_ce"], "SPOT", "SPOT_CAPACITY_OPTIMIZED"),
    ):
        compute_environments.create(
            state,
            {
                "computeEnvironmentName": ce_name,
                "type": "MANAGED",
                "state": "ENABLED",
                "eksConfiguration": {"eksClusterArn": cluster_arn, "kubernetesNamespace": DATA_ON_EKS["namespace"]},
                "computeResources": {
                    "type": ce_type,
                    "allocationStrategy": strategy,
                    "minvCpus": 0,
                    "maxvCpus": 128,
                    "instanceTypes": ["m5", "c5", "r5"],
                    "subnets": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
                    "securityGroupIds": ["sg-0a1b2c3d4e5f60001"],
                    "instanceRole": f"arn:aws:iam::{cfg.account_id}:instance-profile/doeks-batch-node",
                },
                "tags": {"Blueprint": "doeks-batch"},
            },
        )
    for queue, ce_name in (
        (DATA_ON_EKS["on_demand_queue"], DATA_ON_EKS["on_demand_ce"]),
        (DATA_ON_EKS["spot_queue"], DATA_ON_EKS["spot_ce"]),
    ):
        job_queues.create(
            state,
            {
                "jobQueueName": queue,
                "priority": 1,
                "state": "ENABLED",
                "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": ce_name}],
            },
        )
    job_definitions.register(
        state,
        {
            "jobDefinitionName": DATA_ON_EKS["job_definition"],
            "type": "container",
            "eksProperties": {
                "podProperties": {
                    "hostNetwork": True,
                    "containers": [
                        {
                            "name": "application",
                            "image": "public.ecr.aws/amazonlinux/amazonlinux:2",
                            "command": ["/bin/sh", "-c"],
                            "args": ["echo 'Hello World!'"],
                            "resources": {"limits": {"cpu": "1", "memory": "1024Mi"}},
                        }
                    ],
                }
            },
        },
    )
    state.flush()


BLUEPRINTS: dict[str, Callable[[Any], None]] = {"data-on-eks": _data_on_eks}


def apply_blueprint(engine: Any, name: str) -> None:
    if name not in BLUEPRINTS:
        raise ClientException(f"Unknown blueprint {name!r}; choose one of: {', '.join(sorted(BLUEPRINTS))}.")
    BLUEPRINTS[name](engine)
