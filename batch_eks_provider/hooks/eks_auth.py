"""Reaching an EKS cluster's Kubernetes API: the bearer token ``aws eks get-token`` makes, and a
``kubernetes.client.ApiClient`` built from a ``DescribeCluster`` answer (endpoint, CA, token renewed in time).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Callable, Mapping

from ..exceptions import BatchEksError

__all__ = [
    "BatchEksPodError",
    "TOKEN_PREFIX",
    "TOKEN_PRESIGN_SECONDS",
    "TOKEN_REFRESH_SECONDS",
    "eks_bearer_token",
    "api_client_for_cluster",
    "cluster_endpoint",
    "TokenCache",
    "write_ca",
]

TOKEN_PREFIX = "k8s-aws-v1."
TOKEN_PRESIGN_SECONDS = 60
TOKEN_REFRESH_SECONDS = 600  # EKS accepts a token for 15 minutes; make a new one well before that
_CLUSTER_HEADER = "x-k8s-aws-id"
_CONTEXT_KEY = "batch_eks_cluster_name"


class BatchEksPodError(BatchEksError):
    """A job's pod or its logs cannot be reached (no attempt yet, unknown cluster, missing provider...)."""


def _take_cluster_param(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    if "ClusterName" in params:
        context[_CONTEXT_KEY] = params.pop("ClusterName")


def _add_cluster_header(request: Any, **_: Any) -> None:
    name = request.context.get(_CONTEXT_KEY)
    if name:
        request.headers[_CLUSTER_HEADER] = name


def eks_bearer_token(sts_client: Any, cluster_name: str) -> str:
    """A Kubernetes bearer token for an EKS cluster, made as ``aws eks get-token`` makes it: a presigned STS
    ``GetCallerIdentity`` URL signed with the header ``x-k8s-aws-id: <cluster>``, base64url without padding,
    prefixed ``k8s-aws-v1.``."""
    events = sts_client.meta.events
    events.register(
        "provide-client-params.sts.GetCallerIdentity",
        _take_cluster_param,
        unique_id="batch-eks-cluster-param",
    )
    events.register(
        "before-sign.sts.GetCallerIdentity", _add_cluster_header, unique_id="batch-eks-cluster-header"
    )
    url = sts_client.generate_presigned_url(
        "get_caller_identity",
        Params={"ClusterName": cluster_name},
        ExpiresIn=TOKEN_PRESIGN_SECONDS,
        HttpMethod="GET",
    )
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def write_ca(ca_dir: Path, cluster_name: str, data: str | None) -> str:
    """Write the cluster's base64 ``certificateAuthority.data`` to ``ca_dir/<cluster>.crt``; return its path."""
    if not data:
        raise BatchEksPodError(
            f"EKS cluster {cluster_name!r} has an https endpoint but no certificateAuthority data."
        )
    path = Path(ca_dir) / f"{cluster_name}.crt"
    path.write_bytes(base64.b64decode(data))
    return str(path)


def cluster_endpoint(cluster_name: str, cluster: Mapping[str, Any], ca_dir: Callable[[], Path]) -> tuple[str, str | None]:
    """The API server endpoint of an EKS cluster described by ``DescribeCluster`` and, for an https endpoint, the
    path of its CA file (written to ``ca_dir()``, called only then).

    :raises BatchEksPodError: no endpoint, or an https endpoint without CA data.
    """
    endpoint = cluster.get("endpoint")
    if not endpoint:
        raise BatchEksPodError(
            f"EKS cluster {cluster_name!r} has no endpoint (status {cluster.get('status')!r})."
        )
    if not endpoint.startswith("https://"):
        return endpoint, None
    return endpoint, write_ca(ca_dir(), cluster_name, (cluster.get("certificateAuthority") or {}).get("data"))


def api_client_for_cluster(
    cluster_name: str,
    cluster: Mapping[str, Any],
    token: Callable[[], str],
    ca_dir: Callable[[], Path],
) -> Any:
    """A ``kubernetes.client.ApiClient`` for an EKS cluster described by ``DescribeCluster``.

    :param cluster: The ``cluster`` of a DescribeCluster answer (``endpoint``, ``certificateAuthority``).
    :param token: A valid bearer token (asked before each request: cache it, see :class:`TokenCache`).
    :param ca_dir: The directory for the CA file of an https endpoint (called only then).
    :raises BatchEksPodError: no endpoint, or an https endpoint without CA data.
    """
    from kubernetes import client

    endpoint, ca_path = cluster_endpoint(cluster_name, cluster, ca_dir)
    configuration = client.Configuration()
    configuration.host = endpoint
    if ca_path:
        configuration.ssl_ca_cert = ca_path

    def refresh(config: Any) -> None:
        config.api_key["authorization"] = token()
        config.api_key_prefix["authorization"] = "Bearer"

    configuration.refresh_api_key_hook = refresh
    refresh(configuration)
    return client.ApiClient(configuration)


class TokenCache:
    """Bearer tokens per cluster, each made anew every :data:`TOKEN_REFRESH_SECONDS` (EKS accepts one for 15
    minutes): one cache for every way the hook reaches the cluster.

    :param make: Makes a token for a cluster name.
    :param clock: Monotonic seconds.
    """

    def __init__(self, make: Callable[[str], str], clock: Callable[[], float]) -> None:
        self._make, self._clock = make, clock
        self._made: dict[str, tuple[float, str]] = {}

    def get(self, cluster_name: str) -> str:
        made = self._made.get(cluster_name)
        if made is None or self._clock() - made[0] >= TOKEN_REFRESH_SECONDS:
            made = (self._clock(), self._make(cluster_name))
            self._made[cluster_name] = made
        return made[1]
