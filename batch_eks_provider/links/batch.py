"""Extra links on Batch tasks: the job, its queue and its logs.

On AWS they open the AWS console; when the task's connection points at the local engine (its
``endpoint_url`` is not an AWS endpoint) they open the engine's web page (``/``, queues and jobs) and its
log page (``/_local/ui/logs?pod=NAME``). The operator stores what the links need in one XCom
(:data:`LINKS_XCOM_KEY`) right after submitting, and again with the pod name once the job ended.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote, urlparse

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

__all__ = [
    "LINKS_XCOM_KEY",
    "BatchEksJobLink",
    "BatchEksJobQueueLink",
    "BatchEksJobLogsLink",
    "link_details",
    "is_engine_endpoint",
]

LINKS_XCOM_KEY = "batch_eks_links"
AWS_CONSOLE = "https://console.aws.amazon.com"


def is_engine_endpoint(endpoint_url: str | None) -> bool:
    """True when ``endpoint_url`` is set and is not an AWS service endpoint (the local engine)."""
    if not endpoint_url:
        return False
    host = urlparse(endpoint_url).hostname or ""
    return not (host.endswith(".amazonaws.com") or host.endswith(".amazonaws.com.cn") or host.endswith(".api.aws"))


def link_details(
    *, job_id: str, job_queue: str, region_name: str | None, endpoint_url: str | None, pod_name: str | None = None
) -> dict[str, Any]:
    """What the links of one job need (stored in XCom by the operator)."""
    return {
        "job_id": job_id,
        "job_queue": job_queue,
        "region_name": region_name or "us-east-1",
        "endpoint_url": endpoint_url.rstrip("/") if is_engine_endpoint(endpoint_url) else None,
        "pod_name": pod_name,
    }


class _BatchEksLink(BaseOperatorLink):
    name: ClassVar[str]

    def url(self, details: dict[str, Any]) -> str:
        raise NotImplementedError

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        details = XCom.get_value(key=LINKS_XCOM_KEY, ti_key=ti_key)
        if not details or not details.get("job_id"):
            return ""
        return self.url(details)


class BatchEksJobLink(_BatchEksLink):
    """The Batch job."""

    name = "AWS Batch Job"

    def url(self, details: dict[str, Any]) -> str:
        job = quote(details["job_id"], safe="")
        if details.get("endpoint_url"):
            return f"{details['endpoint_url']}/"
        return f"{AWS_CONSOLE}/batch/home?region={details['region_name']}#jobs/detail/{job}"


class BatchEksJobQueueLink(_BatchEksLink):
    """The job queue the job was submitted to."""

    name = "AWS Batch Job Queue"

    def url(self, details: dict[str, Any]) -> str:
        if details.get("endpoint_url"):
            return f"{details['endpoint_url']}/"
        return f"{AWS_CONSOLE}/batch/home?region={details['region_name']}#queues/detail/{quote(details['job_queue'], safe='')}"


class BatchEksJobLogsLink(_BatchEksLink):
    """The job's pod logs (Container Insights log groups in CloudWatch Logs on AWS)."""

    name = "AWS Batch Job Logs"

    def url(self, details: dict[str, Any]) -> str:
        if details.get("endpoint_url"):
            if details.get("pod_name"):
                return f"{details['endpoint_url']}/_local/ui/logs?pod={quote(details['pod_name'], safe='')}"
            return f"{details['endpoint_url']}/"
        region = details["region_name"]
        return f"{AWS_CONSOLE}/cloudwatch/home?region={region}#logsV2:log-groups$3FlogGroupNameFilter$3Dcontainerinsights"
