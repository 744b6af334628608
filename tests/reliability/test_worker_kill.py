"""A worker killed with SIGKILL in the middle of a job, then the task retried on a new worker.

The retry must re-attach to the job the first try submitted (found by the task instance's identity tags)
and follow it to the end: one SubmitJob in all, one job of that name, the task's result is that job.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.waits import wait_for
from tests.support.provider import aws_connection_json

from .conftest import request_count, scaled
from .worker import build_task

ROOT = Path(__file__).resolve().parents[2]


def _worker(engine_url: str, job_name: str, run_id: str, try_number: int) -> subprocess.Popen:
    """A worker process for one try; it imports at once and starts the try when told (``_go``)."""
    env = {**os.environ, "AIRFLOW_CONN_AWS_DEFAULT": aws_connection_json(engine_url), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.worker", "--job-name", job_name, "--run-id", run_id,
         "--try-number", str(try_number), "--wait-for-go"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _go(worker: subprocess.Popen) -> None:
    """Wait until the worker has imported what it needs, then start its try."""
    assert worker.stdin is not None and worker.stdout is not None
    line = worker.stdout.readline()  # {"ready": true}; bounded by the test's timeout
    assert line.startswith('{"ready"'), f"the worker did not start: {line!r}"
    worker.stdin.write("go\n")
    worker.stdin.flush()


def _jobs_named(batch, name: str) -> list[dict]:
    found = []
    for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"):
        found += [j for j in batch.list_jobs(jobQueue="doeks-JQ1_OD", jobStatus=status)["jobSummaryList"] if j["jobName"] == name]
    return found


@pytest.mark.timeout(300)
def test_a_retried_task_reattaches_to_the_job_of_the_killed_worker(aws_default, batch, reliability_report):
    engine = aws_default
    kills = scaled(1, 3)
    held = []
    for round_number in range(kills):
        name, run_id = f"worker-kill-{round_number}", f"manual__worker_kill_{round_number}_{time.time_ns()}"
        submits_before = request_count(engine.url, "SubmitJob", "ok")
        first = _worker(engine.url, name, run_id, try_number=1)
        _go(first)
        try:
            running = wait_for(
                lambda: [j for j in _jobs_named(batch, name) if j["status"] == "RUNNING"], timeout=60, interval=0.2, what=f"{name} RUNNING"
            )
        finally:
            first.kill()  # SIGKILL: no on_kill, no clean-up, as when a worker's machine dies
            first.wait(timeout=10)
        # the retry runs on another worker: this process (Airflow is imported already)
        operator, context = build_task(name, run_id, try_number=2)
        result = {"job_id": operator.execute(context)}
        jobs = _jobs_named(batch, name)
        submits = request_count(engine.url, "SubmitJob", "ok") - submits_before
        held.append((result.get("job_id") == running[0]["jobId"], len(jobs), submits, [j["status"] for j in jobs]))
        assert result.get("job_id") == running[0]["jobId"], (result, running[0]["jobId"])
        assert [j["status"] for j in jobs] == ["SUCCEEDED"]
        assert submits == 1
    reliability_report(
        f"worker kill: {kills} worker(s) SIGKILLed mid-job, task retried: "
        f"{sum(1 for h in held if h[0])}/{kills} re-attached to the running job, SubmitJob per task {[h[2] for h in held]}, "
        f"jobs per task {[h[1] for h in held]}"
    )
