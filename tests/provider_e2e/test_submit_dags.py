"""The submit operator in real DAG runs (``dag.test()``) against the local engine."""

from __future__ import annotations

from tests.provider_e2e.conftest import api_requests, task_states, xcom


def test_sync_and_deferred_tasks_return_the_job_id_and_push_attempts(airflow_db, aws_default, batch, e2e_dags):
    run = e2e_dags.basic_dag.test(run_conf={"command": "echo templated-from-the-form", "cpu": "0.25", "memory": "128Mi"})
    assert run.state == "success", task_states(run)
    for task_id in ("sync", "deferred"):
        job_id = xcom(run, task_id)
        (job,) = batch.describe_jobs(jobs=[job_id])["jobs"]
        assert job["status"] == "SUCCEEDED"
        summary = xcom(run, task_id, "batch_job")
        assert summary["job_id"] == job_id and summary["status"] == "SUCCEEDED"
        assert len(summary["attempts"]) == 1 and summary["attempts"][0]["exit_codes"] == {"application": 0}
        assert summary["attempts"][0]["line"].startswith("attempt 1: pod aws-batch.")
        assert job["tags"]["airflow:dag_id"] == "batch_eks_e2e_basic"
        assert job["tags"]["airflow:task_id"] == task_id
        assert job["tags"]["airflow:run_id"] == run.run_id
        assert job["tags"]["airflow:map_index"] == "-1"
    (sync_job,) = batch.describe_jobs(jobs=[xcom(run, "sync")])["jobs"]
    container = sync_job["eksProperties"]["podProperties"]["containers"][0]
    assert container["command"] == ["echo", "templated-from-the-form"]
    assert container["resources"]["limits"] == {"cpu": "0.25", "memory": "128Mi"}
    links = xcom(run, "sync", "batch_eks_links")
    assert links["endpoint_url"] == aws_default.url and links["job_queue"] == "doeks-JQ1_OD"
    assert api_requests(aws_default, "SubmitJob") == 2
