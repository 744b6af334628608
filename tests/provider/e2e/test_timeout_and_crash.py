"""A timeout on a manual clock; a worker killed mid-job whose task is retried (one SubmitJob in all); a task
cleared after success and run again (a second SubmitJob: new work)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone

import pytest

from batch_eks_provider.local import LocalEngine
from batch_eks_provider.local.clock import ManualClock
from tests.conftest import ROOT
from tests.support.provider import aws_connection_json as aws_connection_uri
from tests.support.waits import wait_for
from tests.support.metrics import api_requests
from tests.support.provider import task_states, xcom


@pytest.fixture
def manual_engine(tmp_path, monkeypatch):
    clock = ManualClock()
    with LocalEngine(blueprint="data-on-eks", state_dir=tmp_path / "engine", clock=clock) as running:
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_uri(running.url))
        yield running, clock


def test_a_job_over_its_timeout_fails_the_task_with_a_timeout_error(airflow_db, manual_engine, e2e_dags):
    import boto3

    engine, clock = manual_engine
    batch = boto3.client("batch", endpoint_url=engine.url, region_name="us-east-1")
    stop = threading.Event()

    def move_time():
        """Let nodes start (0.2 s of engine time), then jump past the 60 s timeout once the job runs."""
        while not stop.is_set():
            running = batch.list_jobs(jobQueue="doeks-JQ1_OD", jobStatus="RUNNING")["jobSummaryList"]
            clock.advance(61 if running else 0.5)
            engine.engine.scheduler.wake()
            if running:
                return
            stop.wait(0.05)

    mover = threading.Thread(target=move_time, daemon=True)
    mover.start()
    try:
        run = e2e_dags.timeout_dag.test()
    finally:
        stop.set()
        mover.join(timeout=5)
    assert task_states(run) == {"timeout": "failed"}
    summary = xcom(run, "timeout", "batch_job")
    assert summary["status"] == "FAILED"
    assert summary["status_reason"].startswith("Job attempt duration exceeded timeout")
    assert len(summary["attempts"]) == 1


def test_a_worker_killed_mid_job_and_the_task_retried_makes_one_job(airflow_db, aws_default, batch, e2e_dags):
    """The first try is a real ``dag.test()`` run in a process that is SIGKILLed once its job runs (no
    ``on_kill``, its task instance left running in the database); the second is ``dag.test()`` of the same run,
    which clears that task instance and runs it again (``dag.test`` numbers it try 1 again; a scheduler would
    make it try 2, which :func:`~batch_eks_provider.operators.identity.can_reattach` treats the same way): it must
    re-attach instead of submitting."""
    from airflow.utils.types import DagRunType

    logical_date = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    run_id = DagRunType.MANUAL.generate_run_id(suffix=logical_date.isoformat())
    script = (
        "from datetime import datetime\n"
        "from importlib import import_module\n"
        f"when = datetime.fromisoformat({logical_date.isoformat()!r})\n"
        "import_module('tests.dags.batch_eks_e2e').reattach_dag.test(logical_date=when, run_after=when)\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        running = wait_for(
            lambda: batch.list_jobs(jobQueue="doeks-JQ1_OD", jobStatus="RUNNING")["jobSummaryList"],
            timeout=120, interval=0.1, what="the first worker's job to run",
        )
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    assert api_requests(aws_default.url, "SubmitJob") == 1
    (first,) = batch.describe_jobs(jobs=[running[0]["jobId"]])["jobs"]
    assert first["tags"]["airflow:run_id"] == run_id and first["tags"]["airflow:try_number"] == "1"

    run = e2e_dags.reattach_dag.test(logical_date=logical_date, run_after=logical_date)  # the same run id
    assert run.run_id == run_id
    assert run.state == "success", task_states(run)
    assert xcom(run, "long") == running[0]["jobId"]
    assert api_requests(aws_default.url, "SubmitJob") == 1
    jobs = batch.list_jobs(jobQueue="doeks-JQ1_OD", filters=[{"name": "JOB_NAME", "values": ["e2e_reattach"]}])["jobSummaryList"]
    assert [(j["jobId"], j["status"]) for j in jobs] == [(running[0]["jobId"], "SUCCEEDED")]


def test_a_task_cleared_after_success_and_run_again_submits_a_new_job(airflow_db, aws_default, batch, e2e_dags):
    """``dag.test`` on the same logical date clears the succeeded task instance and runs it again."""
    logical_date = datetime(2025, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    first = e2e_dags.rerun_dag.test(logical_date=logical_date, run_after=logical_date)
    assert first.state == "success", task_states(first)
    first_job = xcom(first, "rerun")
    (job,) = batch.describe_jobs(jobs=[first_job])["jobs"]
    assert job["tags"]["airflow:try_number"] == "1" and job["tags"]["airflow:task_succeeded"]

    again = e2e_dags.rerun_dag.test(logical_date=logical_date, run_after=logical_date)
    assert again.run_id == first.run_id and again.state == "success", task_states(again)
    assert xcom(again, "rerun") != first_job
    assert api_requests(aws_default.url, "SubmitJob") == 2
    jobs = batch.list_jobs(jobQueue="doeks-JQ1_OD", filters=[{"name": "JOB_NAME", "values": ["e2e_rerun"]}])["jobSummaryList"]
    assert sorted(j["status"] for j in jobs) == ["SUCCEEDED", "SUCCEEDED"]
