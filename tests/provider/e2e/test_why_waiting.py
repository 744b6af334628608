"""Why a job waits, what ``on_stuck`` and ``max_spot_reclaims`` do about it, and array reports: real DAG runs
(``dag.test()``, the trigger run by Airflow itself in deferrable mode) against the local engine.

While a DAG waits, a driver thread plays the world: it fills the queue, disables a compute environment, shrinks
``maxvCpus``, reclaims a Spot node. It moves on conditions read at the engine (a job's status, the number of
GetJobQueueSnapshot calls the explanations made), each with a bound. Every test prints and bounds the API calls
its run cost at the engine.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Callable

import pytest

from tests.dags.waiting_e2e import DAGS, FAILING_INDEXES, MODES, OD_QUEUE, SPOT_QUEUE
from tests.support.waits import wait_for
from tests.support.metrics import api_request_totals, api_requests
from tests.support.provider import post_admin, task_states, try_numbers, xcom

OD_CE = "doeks-CE1_OD"
SPOT_CE = "doeks-CE1_SPOT"
HOLD = {"podProperties": {"containers": [{"command": ["sleep", "300"], "args": [], "resources": {"limits": {"cpu": "1", "memory": "16Mi"}}}]}}


class Driver:
    """Run ``steps`` in a thread while the DAG runs; :meth:`join` re-raises what went wrong in it."""

    def __init__(self, steps: Callable[[], None]) -> None:
        self.error: BaseException | None = None

        def run() -> None:
            try:
                steps()
            except BaseException as error:  # noqa: BLE001 - handed to the test thread
                self.error = error

        self.thread = threading.Thread(target=run, name="driver", daemon=True)
        self.thread.start()

    def join(self) -> None:
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the driver thread did not finish"
        if self.error is not None:
            raise self.error


def calls(engine_url: str) -> Counter:
    totals: Counter = Counter()
    for (operation, _), count in api_request_totals(engine_url).items():
        totals[operation] += count
    return totals


def job_named(batch, name: str, queue: str = OD_QUEUE, status: str | None = None) -> dict | None:
    summaries = batch.list_jobs(jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [name]}])["jobSummaryList"]
    summaries = [s for s in summaries if status is None or s["status"] == status]
    if not summaries:
        return None
    return batch.describe_jobs(jobs=[max(summaries, key=lambda s: s["createdAt"])["jobId"]])["jobs"][0]


def hold_queue(batch, count: int, queue: str = OD_QUEUE) -> list[str]:
    """Submit ``count`` 1-vCPU sleepers and wait until they run."""
    ids = [
        batch.submit_job(jobName=f"holder-{i}", jobQueue=queue, jobDefinition="doeks-hello-world", eksPropertiesOverride=HOLD)["jobId"]
        for i in range(count)
    ]
    wait_for(lambda: all(j["status"] == "RUNNING" for j in batch.describe_jobs(jobs=ids)["jobs"]), timeout=60, what="the holders to run")
    return ids


def set_max_vcpus(batch, ce: str, max_vcpus: int) -> None:
    batch.update_compute_environment(computeEnvironment=ce, computeResources={"maxvCpus": max_vcpus})


def snapshots_made(engine_url: str, more_than: int) -> Callable[[], bool]:
    return lambda: api_requests(engine_url, "GetJobQueueSnapshot") > more_than


WHAT_USERS_READ = ("has been", "Stopping it", "is stuck:", "AWS Batch array", "AWS Batch child", "within allowed", "[child ")


def show(out: str) -> None:
    """Print the task-log lines this suite is about (the message only), once each."""
    seen = set()
    for line in out.splitlines():
        if any(needle in line for needle in WHAT_USERS_READ):
            message = re.sub(r"^\S+ \[\w+\s*\] ", "", line)
            message = re.sub(r"\s+\[airflow\.task[^\]]*\].*$", "", message)
            if message not in seen:
                seen.add(message)
                print("   task log:", message)


def run_dag(scenario: str, mode: str):
    return DAGS[(scenario, mode)].test()


@pytest.mark.parametrize("mode", MODES)
def test_a_job_behind_a_full_compute_environment_says_where_it_stands(airflow_db, aws_default, batch, capfd, mode):
    set_max_vcpus(batch, OD_CE, 2)
    holders = hold_queue(batch, 2)
    ahead = batch.submit_job(jobName="ahead", jobQueue=OD_QUEUE, jobDefinition="doeks-hello-world", eksPropertiesOverride=HOLD)["jobId"]

    def steps() -> None:
        wait_for(lambda: job_named(batch, "waits_behind", status="RUNNABLE"), timeout=60, what="the DAG's job to wait")
        wait_for(snapshots_made(aws_default.url, 0), timeout=60, what="an explanation")
        for job_id in [*holders, ahead]:
            batch.terminate_job(jobId=job_id, reason="test: make room")

    driver = Driver(steps)
    run = run_dag("behind_full", mode)
    driver.join()
    used = calls(aws_default.url)  # before the test reads anything itself
    assert run.state == "success", task_states(run)
    out = capfd.readouterr().out
    show(out)
    job = job_named(batch, "waits_behind")
    lines = [line for line in out.splitlines() if f"AWS Batch job waits_behind ({job['jobId']}) has been RUNNABLE for" in line]
    assert lines, out
    assert f"it is number 2 in the queue, behind {ahead}" in lines[0], lines[0]
    assert "its compute environments are at maxvCpus (2 of 2 vCPUs in use)" in lines[0], lines[0]
    print(f"[{mode}] behind a full CE: {dict(used)}")
    assert used["SubmitJob"] == 3 + 1  # holders, the job ahead, the DAG's job
    assert 1 <= used["GetJobQueueSnapshot"] <= len(lines)  # one per explanation at most, never one per poll


@pytest.mark.parametrize("mode", MODES)
def test_a_disabled_compute_environment_is_named(airflow_db, aws_default, batch, capfd, mode):
    set_max_vcpus(batch, OD_CE, 2)
    holders = hold_queue(batch, 2)

    def steps() -> None:
        wait_for(lambda: job_named(batch, "waits_disabled", status="RUNNABLE"), timeout=60, what="the DAG's job to wait")
        batch.update_compute_environment(computeEnvironment=OD_CE, state="DISABLED")
        for job_id in holders:
            batch.terminate_job(jobId=job_id, reason="test: make room")
        before = api_requests(aws_default.url, "GetJobQueueSnapshot")
        wait_for(snapshots_made(aws_default.url, before), timeout=60, what="an explanation after the CE was disabled")
        assert job_named(batch, "waits_disabled")["status"] == "RUNNABLE"  # a DISABLED CE places nothing
        batch.update_compute_environment(computeEnvironment=OD_CE, state="ENABLED")

    driver = Driver(steps)
    run = run_dag("disabled_ce", mode)
    driver.join()
    used = calls(aws_default.url)  # before the test reads anything itself
    assert run.state == "success", task_states(run)
    out = capfd.readouterr().out
    show(out)
    assert f"compute environment {OD_CE} is DISABLED" in out
    print(f"[{mode}] disabled CE: {dict(used)}")


@pytest.mark.parametrize("mode", MODES)
def test_a_job_that_can_never_start_fails_fast_with_the_reason(airflow_db, aws_default, batch, capfd, mode):
    set_max_vcpus(batch, OD_CE, 2)
    holders = hold_queue(batch, 2)

    def steps() -> None:
        wait_for(lambda: job_named(batch, "never_fits", status="RUNNABLE"), timeout=60, what="the DAG's job to wait")
        set_max_vcpus(batch, OD_CE, 1)  # the 2-vCPU job can never start now
        for job_id in holders:
            batch.terminate_job(jobId=job_id, reason="test: make room")

    driver = Driver(steps)
    run = run_dag("never_fits", mode)
    driver.join()
    used = calls(aws_default.url)  # before the test reads anything itself
    assert task_states(run) == {"waits": "failed"}
    assert try_numbers(run) == {"waits": 1}  # stuck fails without Airflow retries (retries=2 in the DAG)
    job = job_named(batch, "never_fits")
    assert job["status"] == "FAILED" and job["isCancelled"] is True
    assert job["statusReason"].startswith("Terminated by Airflow: stuck (it can never start on this queue: MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE")
    out = capfd.readouterr().out
    show(out)
    assert f"AWS Batch job never_fits ({job['jobId']}) on queue {OD_QUEUE} is stuck: it can never start on this queue: " \
           "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE" in out
    print(f"[{mode}] never fits: {dict(used)}")
    assert used["SubmitJob"] == 2 + 1 and used["TerminateJob"] == 2 + 1  # holders, then the stuck job


@pytest.mark.parametrize("mode", MODES)
def test_a_job_too_big_for_every_instance_type_fails_before_submitting(airflow_db, aws_default, batch, capfd, mode):
    run = run_dag("too_big", mode)
    used = calls(aws_default.url)  # before the test reads anything itself
    assert task_states(run) == {"waits": "failed"}
    assert used["SubmitJob"] == 0
    out = capfd.readouterr().out
    show(out)
    assert "Invalid memory '2000000Mi'" in out
    print(f"[{mode}] too big: {dict(used)}")


@pytest.mark.parametrize("mode", MODES)
def test_insufficient_spot_capacity_moves_the_job_to_the_next_queue(airflow_db, aws_default, batch, capfd, mode):
    post_admin(aws_default.url, "/_local/faults", {"insufficient_capacity": [{"compute_environment": SPOT_CE}]})
    run = run_dag("capacity_next_queue", mode)
    used = calls(aws_default.url)  # before the test reads anything itself
    assert run.state == "success", task_states(run)
    spot_job = job_named(batch, "capacity", queue=SPOT_QUEUE)
    od_job = job_named(batch, "capacity", queue=OD_QUEUE)
    assert spot_job["status"] == "FAILED" and spot_job["isCancelled"] is True and spot_job["eksAttempts"] == []
    assert od_job["status"] == "SUCCEEDED"
    assert od_job["tags"]["airflow:task_id"] == "waits" and od_job["tags"]["airflow:try_number"] == "1"  # a retry finds it
    assert xcom(run, "waits") == od_job["jobId"]
    assert [(j["job_id"], j["job_queue"]) for j in xcom(run, "waits", "batch_job_ids")] == [
        (spot_job["jobId"], SPOT_QUEUE), (od_job["jobId"], OD_QUEUE)
    ]
    out = capfd.readouterr().out
    show(out)
    assert "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type" in out
    assert f"AWS Batch job capacity ({spot_job['jobId']}) on queue {SPOT_QUEUE}: it has been RUNNABLE for" in out
    assert f"Stopping it and submitting the work to queue {OD_QUEUE}" in out
    assert f"ran on {OD_QUEUE}" in out
    print(f"[{mode}] insufficient Spot capacity -> next queue: {dict(used)}")
    assert used["SubmitJob"] == 2 and used["TerminateJob"] == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_spot_reclaim_moves_the_rest_of_the_work_on_demand(airflow_db, aws_default, batch, capfd, mode):
    def steps() -> None:
        job = wait_for(lambda: job_named(batch, "reclaimed", queue=SPOT_QUEUE, status="RUNNING"), timeout=60, what="the Spot job to run")
        post_admin(aws_default.url, "/_local/reclaim", {"jobId": job["jobId"]})

    driver = Driver(steps)
    run = run_dag("spot_fallback", mode)
    driver.join()
    used = calls(aws_default.url)  # before the test reads anything itself
    assert run.state == "success", task_states(run)
    assert try_numbers(run) == {"waits": 1}  # the same task try
    spot_job = job_named(batch, "reclaimed", queue=SPOT_QUEUE)
    od_job = job_named(batch, "reclaimed", queue=OD_QUEUE)
    assert spot_job["eksAttempts"][0]["statusReason"].startswith("Host EC2")
    assert spot_job["isCancelled"] or spot_job["isTerminated"]
    assert od_job["status"] == "SUCCEEDED"
    assert od_job["tags"]["airflow:run_id"] == run.run_id and od_job["tags"]["airflow:try_number"] == "1"
    jobs = xcom(run, "waits", "batch_job_ids")
    assert [j["job_id"] for j in jobs] == [spot_job["jobId"], od_job["jobId"]]
    assert "reclaimed by Spot 1 time(s)" in jobs[0]["replaced_because"]
    out = capfd.readouterr().out
    show(out)
    assert f"done on {OD_QUEUE}" in out
    print(f"[{mode}] Spot reclaim -> on-demand: {dict(used)}")
    assert used["SubmitJob"] == 2


@pytest.mark.parametrize("mode", MODES)
def test_an_array_job_reports_every_failed_child(airflow_db, aws_default, batch, capfd, mode):
    run = run_dag("array", mode)
    used = calls(aws_default.url)  # before the test reads anything itself
    assert task_states(run) == {"strict": "failed", "tolerant": "success"}
    out = capfd.readouterr().out
    show(out)
    strict = job_named(batch, "array_strict")
    assert strict["arrayProperties"]["statusSummary"]["FAILED"] == 3
    assert f"AWS Batch array job array_strict ({strict['jobId']}) FAILED: 50 children: 47 SUCCEEDED, 3 FAILED" in out
    for index in FAILING_INDEXES:
        assert f"AWS Batch child {index} (" in out
        assert f"[child {index} aws-batch." in out  # its pod's log lines, with its index
    assert f"child {FAILING_INDEXES[0]} " in out and "application: exit 3" in out
    assert f"AWS Batch array job array_strict ({strict['jobId']}) failed: 3 of 50 children failed; first: index 7" in out
    table = xcom(run, "tolerant", "batch_array")
    assert table["counts"] == {"SUCCEEDED": 47, "FAILED": 3} and table["failed_count"] == 3
    assert [c["index"] for c in table["failed_children"]] == list(FAILING_INDEXES)
    assert all(c["exit_codes"] == {"application": 3} and c["pod_name"] for c in table["failed_children"])
    assert "3 child(ren) failed (indexes 7, 23, 41), within allowed_failures=3: the task succeeds" in out
    print(f"[{mode}] 50-child arrays x2: {dict(used)}")
    assert used["ListJobs"] == 2 + 2  # the re-attach lookups, then one FAILED page per array
    assert used["SubmitJob"] == 2
