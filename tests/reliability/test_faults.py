"""Throttling and 5xx on 30% of engine requests while many DAG tasks run their jobs.

Every task must end with its job's true outcome (success when the job SUCCEEDED, failure when it FAILED)
and no job may be submitted twice: exactly one job per name, and as many SubmitJob calls that reached the
engine's handler as there are tasks.
"""

from __future__ import annotations

import pytest

from .conftest import SOAK, post_json, request_count, request_totals


@pytest.mark.timeout(900)
def test_tasks_end_with_their_jobs_true_outcome_under_throttling_and_5xx(airflow_db, aws_default, batch, reliability_report):
    from importlib import import_module

    module = import_module("tests.dags.reliability_faults")
    dag = module.reliability_faults_soak if SOAK else module.reliability_faults
    tasks = len(dag.task_dict["job"].expand_input.value)
    post_json(f"{aws_default.url}/_local/faults", {"throttle_rate": 0.15, "server_error_rate": 0.15})
    try:
        run = dag.test()
    finally:
        post_json(f"{aws_default.url}/_local/faults", {"throttle_rate": 0.0, "server_error_rate": 0.0})

    task_states = {ti.map_index: ti.state for ti in run.get_task_instances()}
    jobs_by_name: dict[str, list[dict]] = {}
    for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"):
        for page in batch.get_paginator("list_jobs").paginate(jobQueue="doeks-JQ1_OD", jobStatus=status):
            for summary in page["jobSummaryList"]:
                jobs_by_name.setdefault(summary["jobName"], []).append(summary)
    duplicates = sum(len(jobs) - 1 for jobs in jobs_by_name.values())
    lost = [i for i in range(tasks) if module.job_name(i) not in jobs_by_name]
    wrong = []
    for i in range(tasks):
        jobs = jobs_by_name.get(module.job_name(i), [])
        expected_job = module.expected_job_status(i)
        expected_task = "failed" if expected_job == "FAILED" else "success"
        if [j["status"] for j in jobs] != [expected_job] or str(task_states.get(i)) != expected_task:
            wrong.append((i, [j["status"] for j in jobs], str(task_states.get(i))))
    submits_ok = request_count(aws_default.url, "SubmitJob", "ok")
    totals = request_totals(aws_default.url)
    faults = sum(n for (op, outcome), n in totals.items() if outcome in ("TooManyRequestsException", "ServerException"))
    requests = sum(totals.values())
    reliability_report(
        f"faults: {tasks} tasks, 30% faults (15% throttling, 15% 5xx: {faults} of {requests} requests failed), {len(lost)} lost, "
        f"{duplicates} duplicates, {tasks - len(wrong)}/{tasks} tasks ended with their job's true outcome, "
        f"{submits_ok} SubmitJob accepted"
    )
    assert not lost, f"tasks without a job: {lost}"
    assert duplicates == 0, {name: [j["jobId"] for j in jobs] for name, jobs in jobs_by_name.items() if len(jobs) > 1}
    assert submits_ok == tasks
    assert not wrong, f"(map index, job statuses, task state) not matching the job's true outcome: {wrong}"
    assert faults > 0, "the fault injection did not fail a single request"
