"""A Kubernetes client on the engine of a scheduler test, built as a user builds one on EKS."""

from __future__ import annotations

import json

from tests.engine.scheduling.conftest import CLUSTER_ARN
from tests.support import kubernetes

__all__ = ["core_v1", "kubectl_row"]


def core_v1(env):
    """A CoreV1Api on ``env``'s engine, built from EKS DescribeCluster as on EKS (:func:`tests.support.kubernetes.core_v1`)."""
    return kubernetes.core_v1(env.url, CLUSTER_ARN.rsplit("/", 1)[-1])


def kubectl_row(env, pod_name: str, namespace: str = "batch-jobs") -> list[str]:
    """The pod's row as ``kubectl get pods`` prints it (NAME, READY, STATUS, RESTARTS, AGE): the
    ``meta.k8s.io/v1 Table`` the API server answers kubectl with."""
    answer = core_v1(env).api_client.call_api(
        f"/api/v1/namespaces/{namespace}/pods/{pod_name}", "GET", auth_settings=["BearerToken"], _preload_content=False,
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
    )
    (row,) = json.loads(answer.data)["rows"]
    return [str(cell) for cell in row["cells"]]
