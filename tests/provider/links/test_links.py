"""The extra links: read from a real run's XCom, they open the engine's pages; on AWS they open the console."""

from __future__ import annotations

import requests

from batch_eks_provider.links.batch import BatchEksJobLink, BatchEksJobLogsLink, BatchEksJobQueueLink, link_details
from tests.support.provider import xcom


def test_links_of_a_finished_task_open_the_engine_pages(airflow_db, aws_default, batch, e2e_dags):
    run = e2e_dags.basic_dag.test(run_conf={"command": "echo linked-output"})
    details = xcom(run, "sync", "batch_eks_links")
    job_id = xcom(run, "sync")
    job_url, queue_url, logs_url = (link().url(details) for link in (BatchEksJobLink, BatchEksJobQueueLink, BatchEksJobLogsLink))
    assert job_url == f"{aws_default.url}/#job-{job_id}"
    assert queue_url == f"{aws_default.url}/#queue-doeks-JQ1_OD"
    assert logs_url == f"{aws_default.url}/_local/ui/logs?pod={details['pod_name']}"
    page = requests.get(job_url.split("#")[0], timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    logs = requests.get(logs_url, timeout=10)
    assert logs.status_code == 200 and "linked-output" in logs.text


def test_on_aws_the_links_open_the_console_and_logs_insights():
    details = link_details(job_id="abc-1", job_queue="prod q", region_name="eu-west-1", endpoint_url=None, pod_name="aws-batch.p1")
    assert BatchEksJobLink().url(details) == "https://console.aws.amazon.com/batch/home?region=eu-west-1#jobs/detail/abc-1"
    assert BatchEksJobQueueLink().url(details) == "https://console.aws.amazon.com/batch/home?region=eu-west-1#queues/detail/prod%20q"
    logs = BatchEksJobLogsLink().url(details)
    assert logs.startswith("https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights")
    assert "aws-batch.p1" in logs
    # an AWS endpoint is not the engine; no region, no console link
    on_aws = link_details(job_id="abc-1", job_queue="q", region_name="us-east-1", endpoint_url="https://batch.us-east-1.amazonaws.com")
    assert BatchEksJobLink().url(on_aws).startswith("https://console.aws.amazon.com/batch/")
    assert BatchEksJobLink().url(link_details(job_id="abc-1", job_queue="q", region_name=None, endpoint_url=None)) == ""
