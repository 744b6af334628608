"""The submit operator in real DAG runs (``dag.test()``) against the local engine."""

from __future__ import annotations

import threading

import requests

from tests.support.waits import wait_for
from tests.support.metrics import api_requests
from tests.support.provider import task_states, try_numbers, xcom


def test_sync_and_deferred_tasks_return_the_job_id_and_push_attempts(airflow_db, aws_default, batch, e2e_dags, capfd):
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
    assert links["pod_name"] == sync_job["eksAttempts"][0]["podName"]
    assert api_requests(aws_default.url, "SubmitJob") == 2
    task_log = capfd.readouterr().out
    deferred_pod = xcom(run, "deferred", "batch_job")["attempts"][0]["pod_name"]
    assert f"[{deferred_pod}] deferred" in task_log  # fetched once the deferred job ended
    assert f"[{links['pod_name']}] templated-from-the-form" in task_log


def jobs_named(batch, name: str, queue: str = "doeks-JQ1_OD") -> list[dict]:
    summaries = batch.list_jobs(jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [name]}])["jobSummaryList"]
    return batch.describe_jobs(jobs=[s["jobId"] for s in summaries])["jobs"] if summaries else []


def test_a_chain_with_depends_on_and_a_failing_middle_job(airflow_db, aws_default, batch, e2e_dags):
    run = e2e_dags.chain_dag.test()
    states = task_states(run)
    assert states == {"first": "success", "middle": "success", "last": "failed", "watch_middle": "failed"}
    (first,) = jobs_named(batch, "chain_first")
    (middle,) = jobs_named(batch, "chain_middle")
    (last,) = jobs_named(batch, "chain_last")
    assert first["status"] == "SUCCEEDED"
    assert middle["dependsOn"] == [{"jobId": first["jobId"]}]
    assert middle["status"] == "FAILED" and middle["eksAttempts"][0]["containers"][0]["exitCode"] == 3
    assert last["dependsOn"] == [{"jobId": middle["jobId"]}]
    assert last["status"] == "FAILED" and last["statusReason"].startswith("Dependent Job failed")
    assert last["eksAttempts"] == []  # it never ran
    assert xcom(run, "last", "batch_job")["status_reason"].startswith("Dependent Job failed")


def test_a_permanent_exit_code_fails_at_once_without_airflow_retries(airflow_db, aws_default, batch, e2e_dags):
    run = e2e_dags.permanent_dag.test()
    assert task_states(run) == {"permanent": "failed", "permanent_deferred": "failed"}
    assert try_numbers(run) == {"permanent": 1, "permanent_deferred": 1}
    assert api_requests(aws_default.url, "SubmitJob") == 2
    for task_id in ("permanent", "permanent_deferred"):
        summary = xcom(run, task_id, "batch_job")
        assert summary["attempts"][0]["exit_codes"] == {"application": 42}


def test_an_array_job_runs_its_children(airflow_db, aws_default, batch, e2e_dags):
    run = e2e_dags.array_dag.test()
    assert run.state == "success", task_states(run)
    (job,) = batch.describe_jobs(jobs=[xcom(run, "array")])["jobs"]
    assert job["arrayProperties"]["size"] == 3
    assert job["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 3
    children = batch.list_jobs(arrayJobId=job["jobId"], jobStatus="SUCCEEDED")["jobSummaryList"]
    assert sorted(c["arrayProperties"]["index"] for c in children) == [0, 1, 2]


def test_a_disabled_queue_falls_back_to_the_next_one(airflow_db, aws_default, batch, e2e_dags):
    batch.update_job_queue(jobQueue="doeks-JQ1_SPOT", state="DISABLED")
    run = e2e_dags.fallback_dag.test()
    assert run.state == "success", task_states(run)
    (job,) = batch.describe_jobs(jobs=[xcom(run, "fallback")])["jobs"]
    assert job["jobQueue"].endswith("job-queue/doeks-JQ1_OD")
    assert xcom(run, "fallback", "batch_eks_links")["job_queue"] == "doeks-JQ1_OD"


def test_scale_a_compute_environment_up_run_and_scale_to_zero(airflow_db, aws_default, batch, e2e_dags):
    run = e2e_dags.scale_dag.test()
    assert run.state == "success", task_states(run)
    up = xcom(run, "scale_up")
    assert up["min_vcpus"] == 4 and up["previous"]["min_vcpus"] == 0 and up["status"] == "VALID"
    down = xcom(run, "scale_to_zero")
    assert down["min_vcpus"] == 0 and down["previous"]["min_vcpus"] == 4
    (ce,) = batch.describe_compute_environments(computeEnvironments=["doeks-CE1_OD"])["computeEnvironments"]
    assert ce["computeResources"]["minvCpus"] == 0 and ce["status"] == "VALID"
    (job,) = batch.describe_jobs(jobs=[xcom(run, "run")])["jobs"]
    assert job["status"] == "SUCCEEDED"


def test_a_fair_share_queue_takes_share_identifier_and_priority(airflow_db, aws_default, batch, e2e_dags):
    policy = batch.create_scheduling_policy(
        name="e2e-teams", fairsharePolicy={"shareDecaySeconds": 60, "shareDistribution": [{"shareIdentifier": "teamA", "weightFactor": 1.0}]}
    )
    batch.create_job_queue(
        jobQueueName="e2e-fair-share",
        state="ENABLED",
        priority=1,
        schedulingPolicyArn=policy["arn"],
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "doeks-CE1_OD"}],
    )
    wait_for(lambda: batch.describe_job_queues(jobQueues=["e2e-fair-share"])["jobQueues"][0]["status"] == "VALID", what="queue VALID")
    run = e2e_dags.fair_share_dag.test()
    assert run.state == "success", task_states(run)
    (job,) = batch.describe_jobs(jobs=[xcom(run, "fair_share")])["jobs"]
    assert job["shareIdentifier"] == "teamA" and job["schedulingPriority"] == 5
    assert job["jobQueue"] == batch.describe_job_queues(jobQueues=["e2e-fair-share"])["jobQueues"][0]["jobQueueArn"]


def test_a_spot_reclaim_during_the_job_is_retried_by_batch_and_reported(airflow_db, aws_default, batch, e2e_dags, capfd):
    reclaimed = {}

    def reclaim_once_running():
        job = wait_for(
            lambda: next(iter(batch.list_jobs(jobQueue="doeks-JQ1_SPOT", jobStatus="RUNNING")["jobSummaryList"]), None),
            timeout=60, what="the Spot job to run",
        )
        response = requests.post(f"{aws_default.url}/_local/reclaim", json={"jobId": job["jobId"]}, timeout=5)
        reclaimed.update(response.json())

    thread = threading.Thread(target=reclaim_once_running, daemon=True)
    thread.start()
    run = e2e_dags.spot_dag.test()
    thread.join(timeout=5)
    assert reclaimed.get("nodeName"), reclaimed
    assert run.state == "success", task_states(run)
    summary = xcom(run, "spot", "batch_job")
    assert summary["status"] == "SUCCEEDED"
    assert len(summary["attempts"]) == 2
    first, second = summary["attempts"]
    assert first["status_reason"].startswith("Host EC2") and first["node_name"] == reclaimed["nodeName"]
    assert second["exit_codes"] == {"application": 0}
    task_log = capfd.readouterr().out
    assert f"attempt 1: pod {first['pod_name']}" in task_log and f"attempt 2: pod {second['pod_name']}" in task_log
    assert f"[{second['pod_name']}] survived" in task_log  # the pod's output, in the task log
    assert api_requests(aws_default.url, "SubmitJob") == 1


def test_bad_input_fails_each_task_before_any_submit_job(airflow_db, aws_default, batch, e2e_dags):
    run = e2e_dags.bad_input_dag.test()
    states = task_states(run)
    assert states == {case: "failed" for case in e2e_dags.BAD_INPUT}
    assert api_requests(aws_default.url, "SubmitJob") == 0


def test_queue_and_ce_sensors_then_a_deferred_job_sensor(airflow_db, aws_default, batch, e2e_dags):
    run = e2e_dags.sensors_dag.test()
    assert run.state == "success", task_states(run)
    (job,) = batch.describe_jobs(jobs=[xcom(run, "start")])["jobs"]
    assert job["status"] == "SUCCEEDED"
    assert api_requests(aws_default.url, "SubmitJob") == 1


def test_mapped_tasks_each_get_their_own_job_tagged_with_the_map_index(airflow_db, aws_default, batch, e2e_dags):
    run = e2e_dags.mapped_dag.test()
    assert run.state == "success", task_states(run)
    jobs = jobs_named(batch, "e2e_mapped")
    assert sorted(j["tags"]["airflow:map_index"] for j in jobs) == ["0", "1"]
    by_index = {j["tags"]["airflow:map_index"]: j for j in jobs}
    assert by_index["0"]["eksProperties"]["podProperties"]["containers"][0]["command"] == ["sh", "-c", "echo zero"]
    assert {j["status"] for j in jobs} == {"SUCCEEDED"}


def test_an_airflow_retry_after_a_failed_job_submits_a_new_one(airflow_db, aws_default, batch, e2e_dags):
    """Re-attaching is for active or SUCCEEDED jobs only: a retry of a FAILED job's task runs a new job."""
    run = e2e_dags.retried_dag.test()
    assert task_states(run) == {"flaky": "failed"}
    assert try_numbers(run) == {"flaky": 2}
    jobs = jobs_named(batch, "e2e_flaky")
    assert len(jobs) == 2 and {j["status"] for j in jobs} == {"FAILED"}
    assert api_requests(aws_default.url, "SubmitJob") == 2


def test_a_spot_reclaim_on_the_last_batch_attempt_is_retried_by_airflow(airflow_db, aws_default, batch, e2e_dags, capfd):
    """RetryStrategy attempts=1: Batch fails the job on the reclaim; the task raises the retryable
    BatchEksSpotReclaimedError and Airflow's retry runs a new job."""
    reclaimed = {}

    def reclaim_first_job():
        job = wait_for(
            lambda: next(iter(batch.list_jobs(jobQueue="doeks-JQ1_SPOT", jobStatus="RUNNING")["jobSummaryList"]), None),
            timeout=60, what="the Spot job to run",
        )
        response = requests.post(f"{aws_default.url}/_local/reclaim", json={"jobId": job["jobId"]}, timeout=5)
        reclaimed.update(response.json(), jobId=job["jobId"])

    thread = threading.Thread(target=reclaim_first_job, daemon=True)
    thread.start()
    run = e2e_dags.spot_exhausted_dag.test()
    thread.join(timeout=5)
    assert reclaimed.get("nodeName"), reclaimed
    assert try_numbers(run) == {"spot_once": 2}
    assert run.state == "success", task_states(run)
    (first,) = batch.describe_jobs(jobs=[reclaimed["jobId"]])["jobs"]
    assert first["status"] == "FAILED" and first["statusReason"].startswith("Host EC2")
    assert xcom(run, "spot_once") != reclaimed["jobId"]
    assert api_requests(aws_default.url, "SubmitJob") == 2
    assert "BatchEksSpotReclaimedError" in capfd.readouterr().out
