"""The Amazon provider's BatchOperator, unchanged, in a real DAG run against the local engine."""

from __future__ import annotations

from importlib import import_module


def _jobs(batch, queue: str) -> list[dict]:
    ids = [
        j["jobId"]
        for status in ("SUCCEEDED", "FAILED")
        for j in batch.list_jobs(jobQueue=queue, jobStatus=status)["jobSummaryList"]
    ]
    return batch.describe_jobs(jobs=ids)["jobs"] if ids else []


def test_batch_operator_runs_an_eks_job_on_the_engine(airflow_db, aws_default, batch):
    dag = import_module("tests.dags.amazon_batch_operator").dag
    run = dag.test()
    assert run.state == "success"
    (job,) = _jobs(batch, "doeks-JQ1_OD")
    assert job["jobName"] == "peer_hello"
    assert job["status"] == "SUCCEEDED"
    (attempt,) = job["eksAttempts"]
    assert attempt["containers"][0]["exitCode"] == 0
    assert attempt["podName"].startswith("aws-batch.")


def test_batch_operator_sees_a_failed_eks_job_as_a_failed_task(airflow_db, aws_default, batch):
    dag = import_module("tests.dags.amazon_batch_operator").dag
    run = dag.test(run_conf={"exit_code": 3})
    assert run.state == "failed"
    (job,) = _jobs(batch, "doeks-JQ1_OD")
    assert job["status"] == "FAILED"
    assert job["eksAttempts"][-1]["containers"][0]["exitCode"] == 3
