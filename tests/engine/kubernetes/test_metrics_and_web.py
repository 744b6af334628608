"""``/metrics`` (Prometheus) and the read-only web page ``/``, as a scraper and a browser see them."""

from __future__ import annotations

import json
import urllib.request

import pytest
from kubernetes.client import ApiException

from batch_eks_provider.local.api import web
from tests.support.waits import wait_for_job
from tests.support.aws import aws_client
from tests.support.blueprint import CLUSTER, NAMESPACE, submit_command, submit_gated_job
from tests.support.kubernetes import running_pod
from tests.support.metrics import metric_samples as _samples, metric_value as _value


def _post(url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    return json.loads(urllib.request.urlopen(request, timeout=10).read())


def test_metrics_follow_jobs_capacity_reclaims_and_api_calls(engine, batch, core, tmp_path):
    job_id = submit_gated_job(batch, tmp_path / "gate")
    running_pod(core, job_id)
    samples = _samples(engine.url)
    assert _value(samples, "batch_eks_jobs", queue="doeks-JQ1_OD", status="RUNNING") == 1
    assert (
        _value(samples, "batch_eks_vcpus_in_use", compute_environment="doeks-CE1_OD") == 1.0
    )  # the definition's cpu: 1
    assert _value(samples, "batch_eks_vcpus_in_use", compute_environment="doeks-CE1_SPOT") == 0.0
    assert _value(samples, "batch_eks_nodes", compute_environment="doeks-CE1_OD", status="Ready") == 1
    assert _value(samples, "batch_eks_attempts_total", compute_environment="doeks-CE1_OD") == 1

    _post(
        engine.url, "/_local/reclaim", {"jobId": job_id}
    )  # Spot interruption: no retry strategy, the job fails
    job = wait_for_job(batch, job_id)
    assert job["statusReason"].startswith("Host EC2")
    ok = wait_for_job(batch, submit_command(batch, "echo ok"))
    assert ok["status"] == "SUCCEEDED"

    eks, logs = aws_client("eks", engine.url), aws_client("logs", engine.url)
    eks.describe_cluster(name=CLUSTER)
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.describe_cluster(name="missing")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_log_events(logGroupName="/nope", logStreamName="x")
    with pytest.raises(ApiException):
        core.read_namespaced_pod("aws-batch.missing", NAMESPACE)

    samples = _samples(engine.url)
    assert _value(samples, "batch_eks_jobs", queue="doeks-JQ1_OD", status="FAILED") == 1
    assert _value(samples, "batch_eks_jobs", queue="doeks-JQ1_OD", status="SUCCEEDED") == 1
    assert _value(samples, "batch_eks_jobs_finished_total", queue="doeks-JQ1_OD", status="FAILED") == 1
    assert _value(samples, "batch_eks_spot_reclaims_total", compute_environment="doeks-CE1_OD") == 1
    assert (
        _value(
            samples,
            "batch_eks_attempts_finished_total",
            compute_environment="doeks-CE1_OD",
            outcome="spot_reclaimed",
        )
        == 1
    )
    assert (
        _value(
            samples,
            "batch_eks_attempts_finished_total",
            compute_environment="doeks-CE1_OD",
            outcome="succeeded",
        )
        == 1
    )
    assert _value(samples, "batch_eks_vcpus_in_use", compute_environment="doeks-CE1_OD") == 0.0
    requests = "batch_eks_api_requests_total"
    assert _value(samples, requests, service="batch", operation="SubmitJob", outcome="ok") == 2
    assert (
        _value(samples, requests, service="eks", operation="DescribeCluster", outcome="ok") >= 2
    )  # the core fixture too
    assert (
        _value(
            samples, requests, service="eks", operation="DescribeCluster", outcome="ResourceNotFoundException"
        )
        == 1
    )
    assert (
        _value(
            samples, requests, service="logs", operation="GetLogEvents", outcome="ResourceNotFoundException"
        )
        == 1
    )
    assert (
        _value(samples, requests, service="kubernetes", operation="read_namespaced_pod", outcome="NotFound")
        == 1
    )
    assert _value(samples, requests, service="kubernetes", operation="list_namespaced_pod", outcome="ok") >= 1


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/html")
        return response.read().decode()


def test_web_page_lists_everything_and_links_each_attempt_to_its_logs(engine, batch, core):
    job_id = submit_command(batch, "echo '<script>alert(1)</script> & done'; exit 2", name="page-job")
    job = wait_for_job(batch, job_id)
    pod_name = job["eksAttempts"][0]["podName"]
    page = _get(engine.url + "/")
    for expected in (
        "doeks-JQ1_OD",
        "doeks-JQ1_SPOT",
        "doeks-CE1_OD",
        "doeks-CE1_SPOT",
        job_id,
        "page-job",
        "FAILED",
        job["eksAttempts"][0]["nodeName"],
        f'href="/_local/ui/logs?pod={pod_name}"',
        f'id="job-{job_id}"',  # the operator's extra links land on /#job-ID and /#queue-NAME
        'id="queue-doeks-JQ1_OD"',
    ):
        assert expected in page, expected
    assert "application: 2 Error" in page

    logs_page = _get(f"{engine.url}/_local/ui/logs?pod={pod_name}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; done" in logs_page
    assert "<script>" not in logs_page
    assert "Source: pod" in logs_page

    core.delete_namespaced_pod(pod_name, NAMESPACE)  # gone: the page reads the CloudWatch Logs copy
    logs_page = _get(f"{engine.url}/_local/ui/logs?pod={pod_name}")
    assert "Source: CloudWatch Logs" in logs_page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; done" in logs_page and "<script>" not in logs_page


def test_web_page_shows_the_latest_jobs_only(engine, batch, monkeypatch):
    monkeypatch.setattr(web, "JOBS_ON_PAGE", 2)
    batch.update_compute_environment(computeEnvironment="doeks-CE1_SPOT", state="DISABLED")
    ids = [
        batch.submit_job(jobName=f"held-{i}", jobQueue="doeks-JQ1_SPOT", jobDefinition="doeks-hello-world")[
            "jobId"
        ]
        for i in range(3)
    ]
    page = _get(engine.url + "/")
    assert "Latest 2 of 3 jobs." in page
    assert ids[0] not in page and ids[1] in page and ids[2] in page
    assert page.index(ids[2]) < page.index(ids[1])
