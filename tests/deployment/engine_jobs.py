"""What the engine holds, read through boto3 as a user would: jobs by Airflow identity tags, DescribeJobs counts."""

from __future__ import annotations

from typing import Any

from tests.support.metrics import api_requests

__all__ = ["jobs_of", "describe_jobs_count"]

STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")


def jobs_of(batch: Any, dag_id: str, run_id: str | None = None, queue: str | None = "doeks-JQ1_OD") -> list[dict[str, Any]]:
    """Every job of ``queue`` (None: of every queue) whose tags name ``dag_id`` (and ``run_id`` if given),
    described, oldest first."""
    queues = [queue] if queue else [q["jobQueueName"] for q in batch.describe_job_queues()["jobQueues"]]
    ids: list[str] = []
    for name in queues:
        for status in STATUSES:
            for page in batch.get_paginator("list_jobs").paginate(jobQueue=name, jobStatus=status):
                ids.extend(job["jobId"] for job in page["jobSummaryList"])
    jobs: list[dict[str, Any]] = []
    for start in range(0, len(ids), 100):
        jobs.extend(batch.describe_jobs(jobs=ids[start:start + 100])["jobs"])
    mine = [
        job for job in jobs
        if job.get("tags", {}).get("airflow:dag_id") == dag_id
        and (run_id is None or job.get("tags", {}).get("airflow:run_id") == run_id)
    ]
    return sorted(mine, key=lambda job: job["createdAt"])


def describe_jobs_count(engine_url: str) -> int:
    return api_requests(engine_url, "DescribeJobs")
