"""One EKS job end to end: boto3 against the engine, and the operator in a real DAG run."""

from __future__ import annotations

import pytest

from tests.support.waits import wait_for_job


def test_boto3_submit_runs_the_hello_world_pod(batch, engine):
    submitted = batch.submit_job(jobName="hello", jobQueue="doeks-JQ1_OD", jobDefinition="doeks-hello-world")
    job = wait_for_job(batch, submitted["jobId"])
    assert job["status"] == "SUCCEEDED"
    (attempt,) = job["eksAttempts"]
    assert attempt["podName"].startswith("aws-batch.")
    assert attempt["nodeName"].endswith(".ec2.internal")
    assert attempt["containers"][0]["exitCode"] == 0
    assert attempt["containers"][0]["reason"] == "Completed"
    lines = [line.message for line in engine.engine.logs.lines[(attempt["podName"], "application")]]
    assert lines == ["Hello World!"]


def test_non_zero_exit_fails_the_job_with_the_exit_code(batch):
    submitted = batch.submit_job(
        jobName="fails",
        jobQueue="doeks-JQ1_OD",
        jobDefinition="doeks-hello-world",
        eksPropertiesOverride={"podProperties": {"containers": [{"command": ["sh", "-c", "exit 3"], "args": []}]}},
    )
    job = wait_for_job(batch, submitted["jobId"])
    assert job["status"] == "FAILED"
    assert job["eksAttempts"][0]["containers"][0]["exitCode"] == 3
    assert job["eksAttempts"][0]["containers"][0]["reason"] == "Error"


def test_millicores_are_rejected_with_a_client_exception(batch):
    with pytest.raises(batch.exceptions.ClientException, match="millicpu"):
        batch.submit_job(
            jobName="bad",
            jobQueue="doeks-JQ1_OD",
            jobDefinition="doeks-hello-world",
            eksPropertiesOverride={"podProperties": {"containers": [{"resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}},
        )


def test_hello_world_dag_runs_green_against_the_engine(airflow_db, aws_default, batch):
    from importlib import import_module

    module = import_module("dags.batch_eks_hello_world")
    run = module.dag.test()
    assert run.state == "success"
    jobs = batch.list_jobs(jobQueue="doeks-JQ1_OD", jobStatus="SUCCEEDED")["jobSummaryList"]
    assert [j["jobName"] for j in jobs] == ["doeks_hello_on_demand"]
    spot = batch.list_jobs(jobQueue="doeks-JQ1_SPOT", jobStatus="SUCCEEDED")["jobSummaryList"]
    assert [j["jobName"] for j in spot] == ["doeks_hello_spot"]
