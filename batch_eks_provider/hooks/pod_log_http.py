"""Read an ended attempt's pod log with one GET, without the kubernetes client.

A deferred task that resumes reads its ended job's pod logs once. Importing the ``kubernetes`` client for that
one read costs 1.2-1.5 s of CPU and about 65 MB per task (``python -c "import kubernetes.client"`` on the
2-core test machine), more than a third of what the resumed task costs in all. This module makes the same
request the client makes, ``GET /api/v1/namespaces/{namespace}/pods/{name}/log?container=...``, through urllib3
(the HTTP library botocore already brings) with the cluster's CA and an EKS bearer token.

Only the EKS path (DescribeCluster + token) reads this way; a ``kubernetes_conn_id`` (in-cluster, kubeconfig)
goes through the cncf provider's ``KubernetesHook`` and the kubernetes client, which know those set-ups.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

import urllib3

from ..retries import aws_api_retry, is_transient

__all__ = ["PodLogHttpError", "read_pod_log", "log_read_retry"]

READ_TIMEOUT = urllib3.Timeout(connect=10.0, read=60.0)


class PodLogHttpError(Exception):
    """The Kubernetes API answered the log request with an error other than 404."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"Kubernetes API answered {status}: {body[:500]}")
        self.status = status


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, PodLogHttpError):
        return error.status == 429 or error.status >= 500
    return isinstance(error, urllib3.exceptions.HTTPError) or is_transient(error)


def log_read_retry():
    """:func:`~batch_eks_provider.retries.aws_api_retry` (same bounds and waits) for the log GET."""
    return aws_api_retry(predicate=_is_transient)


def read_pod_log(
    pool: urllib3.PoolManager, endpoint: str, token: str, namespace: str, pod_name: str, container: str | None
) -> str | None:
    """The container's log as ``kubectl logs`` shows it, or ``None`` when the pod no longer exists (404).

    :raises PodLogHttpError: any other error answer (401, 403, 5xx ...).
    """
    path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod_name, safe='')}/log"
    query = f"?{urlencode({'container': container})}" if container else ""
    response = pool.request(
        "GET",
        endpoint.rstrip("/") + path + query,
        headers={"Authorization": f"Bearer {token}", "Accept": "*/*"},
        timeout=READ_TIMEOUT,
        retries=False,
    )
    body = response.data.decode("utf-8", "replace")
    if response.status == 404:
        return None
    if response.status >= 400:
        raise PodLogHttpError(response.status, body)
    return body
