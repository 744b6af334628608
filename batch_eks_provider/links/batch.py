"""Extra links on Batch tasks: the job, its queue and its logs.

On AWS they open the AWS console (the job, the queue, and CloudWatch Logs Insights filtered to the job's
pod; no link without a region); when the task's connection points at the local engine (its ``endpoint_url``
is not an AWS endpoint) they open the engine's web page at the job or queue (``/#job-ID``, ``/#queue-NAME``)
and its log page (``/_local/ui/logs?pod=NAME``). The operator stores what the links need in one XCom
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
    """What the links of one job need (stored in XCom by the operator).

    A connection without a region leaves ``region_name`` None: the AWS links are then empty rather than a
    guess at the wrong console region.
    """
    return {
        "job_id": job_id,
        "job_queue": job_queue,
        "region_name": region_name or None,
        "endpoint_url": endpoint_url.rstrip("/") if is_engine_endpoint(endpoint_url) else None,
        "pod_name": pod_name,
    }


def _insights_query(pod_name: str) -> str:
    """A CloudWatch Logs Insights console fragment that shows one pod's lines (the console's ``*``-escaping)."""
    query = f'fields @timestamp, log | filter kubernetes.pod_name = "{pod_name}" | sort @timestamp asc'
    return "logs-insights$3FqueryDetail$3D~(editorString~'" + quote(query, safe="").replace("%", "*") + ")"


class _BatchEksLink(BaseOperatorLink):
    """One link: where it goes on the engine's web page and in the AWS console, built by one :meth:`url`."""

    name: ClassVar[str]

    def engine_path(self, details: dict[str, Any]) -> str:
        raise NotImplementedError

    def console_path(self, details: dict[str, Any]) -> str:
        raise NotImplementedError

    def url(self, details: dict[str, Any]) -> str:
        if details.get("endpoint_url"):
            return details["endpoint_url"] + self.engine_path(details)
        if not details.get("region_name"):
            return ""
        return f"{AWS_CONSOLE}/{self.console_path(details).format(region=quote(details['region_name'], safe=''))}"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        details = XCom.get_value(key=LINKS_XCOM_KEY, ti_key=ti_key)
        if not details or not details.get("job_id"):
            return ""
        return self.url(details)


class BatchEksJobLink(_BatchEksLink):
    """The Batch job."""

    name = "AWS Batch Job"

    def engine_path(self, details: dict[str, Any]) -> str:
        return f"/#job-{quote(details['job_id'], safe='')}"

    def console_path(self, details: dict[str, Any]) -> str:
        return "batch/home?region={region}#jobs/detail/" + quote(details["job_id"], safe="")


class BatchEksJobQueueLink(_BatchEksLink):
    """The job queue the job was submitted to."""

    name = "AWS Batch Job Queue"

    def engine_path(self, details: dict[str, Any]) -> str:
        return f"/#queue-{quote(details['job_queue'], safe='')}"

    def console_path(self, details: dict[str, Any]) -> str:
        return "batch/home?region={region}#queues/detail/" + quote(details["job_queue"], safe="")


class BatchEksJobLogsLink(_BatchEksLink):
    """The job's pod logs (Container Insights in CloudWatch Logs on AWS, filtered to the job's last pod)."""

    name = "AWS Batch Job Logs"

    def engine_path(self, details: dict[str, Any]) -> str:
        if details.get("pod_name"):
            return f"/_local/ui/logs?pod={quote(details['pod_name'], safe='')}"
        return f"/#job-{quote(details['job_id'], safe='')}"

    def console_path(self, details: dict[str, Any]) -> str:
        fragment = _insights_query(details["pod_name"]) if details.get("pod_name") else (
            "log-groups$3FlogGroupNameFilter$3Dcontainerinsights"
        )
        return "cloudwatch/home?region={region}#logsV2:" + fragment.replace("{", "{{").replace("}", "}}")
