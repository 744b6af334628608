"""batch-eks-provider: run AWS Batch jobs on Amazon EKS from Apache Airflow.

DAGs import the operators, sensors, hooks and triggers from their modules, e.g.
``from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["get_provider_info", "__version__"]


def get_provider_info() -> dict:
    """What Airflow's ProvidersManager reads through the ``apache_airflow_provider`` entry point."""
    return {
        "package-name": "batch-eks-provider",
        "name": "AWS Batch on EKS",
        "description": "Run AWS Batch jobs on Amazon EKS from Airflow, with a local engine for tests and demos.",
        "versions": [__version__],
        "hooks": [
            {"integration-name": "AWS Batch on EKS", "python-modules": ["batch_eks_provider.hooks.batch"]},
        ],
        "operators": [
            {"integration-name": "AWS Batch on EKS", "python-modules": ["batch_eks_provider.operators.batch"]},
        ],
        "integrations": [
            {
                "integration-name": "AWS Batch on EKS",
                "external-doc-url": "https://docs.aws.amazon.com/batch/latest/userguide/eks.html",
                "tags": ["aws"],
            }
        ],
    }
