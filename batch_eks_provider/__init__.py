"""batch-eks-provider: run AWS Batch jobs on Amazon EKS from Apache Airflow.

DAGs import the operators, sensors, hooks and triggers from their modules, e.g.
``from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["get_provider_info", "__version__"]


INTEGRATION = "AWS Batch on EKS"


def _option(description: str, kind: str, default: str, example: str) -> dict:
    return {"description": description, "version_added": "0.1.0", "type": kind, "example": example, "default": default}


_CONFIG = {
    "batch_eks": {
        "description": "How the batch-eks provider waits on jobs, retries transient AWS errors and remembers what it checks.",
        "options": {
            "default_poll_interval": _option(
                "Seconds between two readings of a job when a task gives no poll_interval (at least 1).",
                "float", "5.0", "10",
            ),
            "retry_max_attempts": _option(
                "Calls in total (the first included) of one AWS API call on throttling, 5xx or dropped connections.",
                "integer", "8", "5",
            ),
            "retry_max_delay": _option(
                "Seconds after the first call past which no retry of it starts.", "float", "120.0", "60",
            ),
            "retry_initial_wait": _option(
                "Scale of the first wait between retries (full-jitter exponential backoff).", "float", "0.5", "1",
            ),
            "retry_max_wait": _option("Cap of one wait between retries, in seconds.", "float", "20.0", "30"),
            "facts_ttl": _option(
                "Seconds the job queue, compute environment and job definition facts a submission checks are reused "
                "by the tasks of one worker (0: read them for every submission).",
                "float", "30.0", "60",
            ),
            "facts_cache_dir": _option(
                "Directory where the tasks of one worker share those facts (JSON files). Empty: "
                "<system temp dir>/batch-eks-provider-<uid>/facts. Refused when another user owns it or may write to it.",
                "string", "", "/var/cache/airflow/batch-eks-facts",
            ),
        },
    }
}
"""The ``[batch_eks]`` section of the Airflow configuration (``AIRFLOW__BATCH_EKS__DEFAULT_POLL_INTERVAL`` ...)."""


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
        "config": _CONFIG,
        "extra-links": [
            "batch_eks_provider.links.batch.BatchEksJobLink",
            "batch_eks_provider.links.batch.BatchEksJobQueueLink",
            "batch_eks_provider.links.batch.BatchEksJobLogsLink",
        ],
    }
