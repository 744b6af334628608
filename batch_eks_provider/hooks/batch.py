"""The hook that talks to AWS Batch for EKS jobs."""

from __future__ import annotations

from typing import Any, Iterable

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from ..retries import aws_api_retry

__all__ = ["BatchEksHook", "DESCRIBE_JOBS_LIMIT"]

DESCRIBE_JOBS_LIMIT = 100


def chunked(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class BatchEksHook(AwsBaseHook):
    """Submit, describe and stop AWS Batch jobs that run on Amazon EKS; inspect queues and compute environments.

    Every call is retried on throttling, 5xx and dropped connections (:func:`~batch_eks_provider.retries.aws_api_retry`).

    :param aws_conn_id: The Airflow AWS connection (its extra ``endpoint_url`` may point at the local engine).
    :param region_name: AWS region; defaults to the connection's.

    .. seealso:: https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    hook_name = "AWS Batch on EKS"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "batch"
        super().__init__(*args, **kwargs)

    @aws_api_retry()
    def submit_job(self, **request: Any) -> dict[str, Any]:
        """Send one SubmitJob request (wire parameter names) and return ``{jobId, jobName, jobArn}``."""
        response = self.conn.submit_job(**request)
        return {k: response[k] for k in ("jobId", "jobName", "jobArn")}

    @aws_api_retry()
    def _describe_chunk(self, job_ids: list[str]) -> list[dict[str, Any]]:
        return self.conn.describe_jobs(jobs=job_ids)["jobs"]

    def describe_jobs(self, job_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Describe any number of jobs, 100 ids per DescribeJobs call; returns ``{job_id: job}``
        (unknown ids are absent, as in the API)."""
        unique = list(dict.fromkeys(job_ids))
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunked(unique, DESCRIBE_JOBS_LIMIT):
            for job in self._describe_chunk(chunk):
                found[job["jobId"]] = job
        return found

    def describe_job(self, job_id: str) -> dict[str, Any] | None:
        return self.describe_jobs([job_id]).get(job_id)

    @aws_api_retry()
    def terminate_job(self, job_id: str, reason: str) -> None:
        self.conn.terminate_job(jobId=job_id, reason=reason)

    @aws_api_retry()
    def list_jobs(self, **request: Any) -> list[dict[str, Any]]:
        """ListJobs across every page."""
        summaries: list[dict[str, Any]] = []
        for page in self.conn.get_paginator("list_jobs").paginate(**request):
            summaries.extend(page["jobSummaryList"])
        return summaries

    @aws_api_retry()
    def describe_job_queue(self, name_or_arn: str) -> dict[str, Any] | None:
        queues = self.conn.describe_job_queues(jobQueues=[name_or_arn])["jobQueues"]
        return queues[0] if queues else None

    @aws_api_retry()
    def describe_compute_environments(self, names_or_arns: list[str]) -> list[dict[str, Any]]:
        if not names_or_arns:
            return []
        return self.conn.describe_compute_environments(computeEnvironments=names_or_arns)["computeEnvironments"]

    @aws_api_retry()
    def describe_job_definition(self, ref: str) -> dict[str, Any] | None:
        """The job definition for ``name``, ``name:revision`` or ARN (a bare name: the latest ACTIVE revision)."""
        if ref.startswith("arn:") or ":" in ref:
            found = self.conn.describe_job_definitions(jobDefinitions=[ref])["jobDefinitions"]
        else:
            found = self.conn.describe_job_definitions(jobDefinitionName=ref, status="ACTIVE")["jobDefinitions"]
        return max(found, key=lambda d: d["revision"]) if found else None
