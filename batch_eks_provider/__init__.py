"""batch-eks-provider: run AWS Batch jobs on Amazon EKS from Apache Airflow.

DAGs import the operators, sensors, hooks and triggers from their modules, e.g.
``from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["get_provider_info", "__version__"]


INTEGRATION = "AWS Batch on EKS"


def get_provider_info() -> dict:
    """What Airflow's ProvidersManager reads through the ``apache_airflow_provider`` entry point.

    The hooks use the Amazon provider's ``aws`` connection type (its ``endpoint_url`` extra may point at
    the local engine), so no connection type of our own is registered: registering ``aws`` a second time
    would only make every Airflow process warn about a duplicate.
    """

    def modules(*names: str) -> list[dict]:
        return [{"integration-name": INTEGRATION, "python-modules": list(names)}]

    return {
        "package-name": "batch-eks-provider",
        "name": INTEGRATION,
        "description": "Run AWS Batch jobs on Amazon EKS from Airflow, with a local engine for tests and demos.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://docs.aws.amazon.com/batch/latest/userguide/eks.html",
                "tags": ["aws"],
            }
        ],
        "hooks": modules(
            "batch_eks_provider.hooks.batch", "batch_eks_provider.hooks.compute_environment", "batch_eks_provider.hooks.pods"
        ),
        "operators": modules("batch_eks_provider.operators.batch"),
        "sensors": modules("batch_eks_provider.sensors.batch"),
        "triggers": modules("batch_eks_provider.triggers.batch"),
        "connection-types": [],
        "extra-links": [
            "batch_eks_provider.links.batch.BatchEksJobLink",
            "batch_eks_provider.links.batch.BatchEksJobQueueLink",
            "batch_eks_provider.links.batch.BatchEksJobLogsLink",
        ],
    }
