"""Airflow's ProvidersManager finds the provider through its entry point, with every module importable."""

from __future__ import annotations

from importlib import import_module


def test_providers_manager_sees_the_provider_and_its_parts():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "batch-eks-provider" in manager.providers
    provider = manager.providers["batch-eks-provider"]
    assert provider.version == "0.1.0"
    links = set(manager.extra_links_class_names)
    assert {
        "batch_eks_provider.links.batch.BatchEksJobLink",
        "batch_eks_provider.links.batch.BatchEksJobQueueLink",
        "batch_eks_provider.links.batch.BatchEksJobLogsLink",
    } <= links
    triggers = {t.trigger_class_name for t in manager.trigger if t.package_name == "batch-eks-provider"}
    assert triggers == {"batch_eks_provider.triggers.batch"}
    # The hooks ride on the Amazon provider's "aws" connection type.
    assert manager.hooks["aws"].package_name == "apache-airflow-providers-amazon"


def test_every_module_listed_imports_and_exports_the_public_api():
    from batch_eks_provider import get_provider_info

    info = get_provider_info()
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                import_module(module)
    for dotted in info["extra-links"]:
        module, name = dotted.rsplit(".", 1)
        assert getattr(import_module(module), name).name
    from batch_eks_provider.operators.batch import BatchEksScaleComputeEnvironmentOperator, BatchEksSubmitJobOperator  # noqa: F401
    from batch_eks_provider.sensors.batch import (  # noqa: F401
        BatchEksComputeEnvironmentSensor,
        BatchEksJobQueueSensor,
        BatchEksJobSensor,
    )
    from batch_eks_provider.triggers.batch import BatchEksJobTrigger  # noqa: F401


def test_links_point_at_the_engine_or_the_aws_console():
    from batch_eks_provider.links.batch import BatchEksJobLink, BatchEksJobLogsLink, BatchEksJobQueueLink, link_details

    engine = link_details(job_id="j-1", job_queue="doeks-JQ1_OD", region_name="us-east-1", endpoint_url="http://127.0.0.1:4566/")
    assert BatchEksJobLink().url(engine) == "http://127.0.0.1:4566/#job-j-1"
    assert BatchEksJobQueueLink().url(engine) == "http://127.0.0.1:4566/#queue-doeks-JQ1_OD"
    assert BatchEksJobLogsLink().url(engine) == "http://127.0.0.1:4566/#job-j-1"
    engine["pod_name"] = "aws-batch.abc"
    assert BatchEksJobLogsLink().url(engine) == "http://127.0.0.1:4566/_local/ui/logs?pod=aws-batch.abc"
    aws = link_details(job_id="j-1", job_queue="doeks-JQ1_OD", region_name="eu-west-1", endpoint_url=None)
    assert BatchEksJobLink().url(aws) == "https://console.aws.amazon.com/batch/home?region=eu-west-1#jobs/detail/j-1"
    assert BatchEksJobQueueLink().url(aws) == "https://console.aws.amazon.com/batch/home?region=eu-west-1#queues/detail/doeks-JQ1_OD"
    aws["pod_name"] = "aws-batch.abc"
    logs = BatchEksJobLogsLink().url(aws)
    assert logs.startswith("https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights")
    assert "aws-batch.abc" in logs and "kubernetes.pod_name" in logs
    no_region = link_details(job_id="j-1", job_queue="q", region_name=None, endpoint_url=None)
    assert [link.url(no_region) for link in (BatchEksJobLink(), BatchEksJobQueueLink(), BatchEksJobLogsLink())] == ["", "", ""]
    assert link_details(job_id="j", job_queue="q", region_name="us-east-1", endpoint_url="https://batch.us-east-1.amazonaws.com")[
        "endpoint_url"
    ] is None


def test_the_batch_eks_config_section_is_airflows_and_the_policies_read_it(monkeypatch):
    from airflow.configuration import conf

    from batch_eks_provider.retries import RetryPolicy
    from batch_eks_provider.waiting.policy import poll_interval_seconds

    conf.load_providers_configuration()
    assert conf.get("batch_eks", "default_poll_interval") == "5.0"  # the provider's default, known to Airflow
    assert conf.getint("batch_eks", "retry_max_attempts") == 8
    assert poll_interval_seconds(None) == 5.0
    monkeypatch.setenv("AIRFLOW__BATCH_EKS__DEFAULT_POLL_INTERVAL", "7.5")
    monkeypatch.setenv("AIRFLOW__BATCH_EKS__RETRY_MAX_ATTEMPTS", "3")
    assert poll_interval_seconds(None) == 7.5
    assert poll_interval_seconds("2") == 2.0  # the task's own value wins
    assert RetryPolicy.from_config().max_attempts == 3
