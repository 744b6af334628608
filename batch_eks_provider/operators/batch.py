"""Operators for AWS Batch jobs on Amazon EKS."""

from __future__ import annotations

import time
from typing import Any, Sequence

from airflow.sdk import BaseOperator

from ..hooks.batch import BatchEksHook
from ..outcome import describe_attempts, failure_error, job_outcome
from ..submit_request import SubmitRequestSpec, build_submit_request

__all__ = ["BatchEksSubmitJobOperator"]


class BatchEksSubmitJobOperator(BaseOperator):
    """Submit an AWS Batch job that runs on Amazon EKS and wait for it.

    :param job_name: Batch job name (letters, digits, ``-`` and ``_``; at most 128 characters).
    :param job_queue: Job queue name or ARN.
    :param job_definition: Job definition ``name``, ``name:revision`` or ARN.
    :param command: Overrides the first container's command.
    :param args: Overrides the first container's args.
    :param env: Environment variables added to the first container.
    :param cpu: vCPUs for the first container, e.g. ``"0.5"`` or ``2`` (no millicores).
    :param memory: Memory for the first container in MiB with the ``Mi`` suffix, e.g. ``"2048Mi"``.
    :param gpus: ``nvidia.com/gpu`` for the first container.
    :param wait_for_completion: Wait until the job ends (default True).
    :param poll_interval: Seconds between DescribeJobs calls while waiting.
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region, default the connection's.

    .. seealso:: https://docs.aws.amazon.com/batch/latest/userguide/eks-jobs.html
    """

    template_fields: Sequence[str] = ("job_name", "job_queue", "job_definition", "command", "args", "env", "cpu", "memory", "gpus")
    ui_color = "#ff9900"

    def __init__(
        self,
        *,
        job_name: str,
        job_queue: str,
        job_definition: str,
        command: list[str] | None = None,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        cpu: str | float | int | None = None,
        memory: str | None = None,
        gpus: int | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = 5.0,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.job_queue = job_queue
        self.job_definition = job_definition
        self.command = command
        self.args = args
        self.env = env
        self.cpu = cpu
        self.memory = memory
        self.gpus = gpus
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.job_id: str | None = None

    @property
    def hook(self) -> BatchEksHook:
        return BatchEksHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    def execute(self, context: Any) -> str:
        request = build_submit_request(
            SubmitRequestSpec(
                job_name=self.job_name,
                job_queue=self.job_queue,
                job_definition=self.job_definition,
                command=self.command,
                args=self.args,
                env=self.env,
                cpu=self.cpu,
                memory=self.memory,
                gpus=self.gpus,
            )
        )
        hook = self.hook
        submitted = hook.submit_job(**request)
        self.job_id = submitted["jobId"]
        self.log.info("Submitted AWS Batch job %s (%s) to queue %s", self.job_name, self.job_id, self.job_queue)
        if not self.wait_for_completion:
            return self.job_id
        while True:
            job = hook.describe_job(self.job_id)
            if job is None:
                raise failure_error(job_outcome({"jobId": self.job_id, "status": "FAILED", "statusReason": "job not found"}))
            outcome = job_outcome(job)
            if outcome.done:
                break
            time.sleep(self.poll_interval)
        for line in describe_attempts(job):
            self.log.info("AWS Batch job %s %s", self.job_id, line)
        if outcome.status != "SUCCEEDED":
            raise failure_error(outcome)
        return self.job_id
