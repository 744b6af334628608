"""Amazon EKS (rest-json): ``GET /clusters`` (ListClusters) and ``GET /clusters/{name}`` (DescribeCluster).

A cluster exists when a compute environment's ``eksConfiguration.eksClusterArn`` names it (the blueprint's
compute environments name ``doeks-batch``). Its ``endpoint`` is the engine's HTTPS Kubernetes port
(``https://<the host the client reached>:<kubernetes port>``) and ``certificateAuthority.data`` the engine's
cluster CA (:mod:`..tls`), so the ``kubernetes`` client, kubectl and the provider's pod hook built from
DescribeCluster verify the engine as they verify EKS. An app served without TLS reports its plain URL.
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import InvalidParameterException, ResourceNotFoundException
from .wire import aws_call

__all__ = ["eks_routes", "clusters", "cluster_name_from_arn", "CERTIFICATE_AUTHORITY_DATA"]

# An app served without TLS (no Kubernetes HTTPS port): a plain http endpoint, which no client verifies.
CERTIFICATE_AUTHORITY_DATA = base64.b64encode(
    b"-----BEGIN CERTIFICATE-----\nbatch-eks local engine: http endpoint, no certificate\n-----END CERTIFICATE-----\n"
).decode()
_LIST_LIMIT = 100


def cluster_name_from_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def clusters(engine: Any) -> dict[str, dict[str, Any]]:
    """Cluster name -> ``{arn, createdAt (s), namespaces, subnets, securityGroupIds}`` from the CEs that name it."""
    found: dict[str, dict[str, Any]] = {}
    for ce in sorted(engine.state.compute_environments.values(), key=lambda c: c.created_at):
        if not ce.cluster_arn:
            continue
        entry = found.setdefault(
            cluster_name_from_arn(ce.cluster_arn),
            {"arn": ce.cluster_arn, "createdAt": ce.created_at, "subnets": [], "securityGroupIds": []},
        )
        for key, source in (("subnets", "subnets"), ("securityGroupIds", "securityGroupIds")):
            for value in ce.compute_resources.get(source) or []:
                if value not in entry[key]:
                    entry[key].append(value)
    return found


def _cluster(engine: Any, name: str, info: dict[str, Any], endpoint: str, ca_data: str) -> dict[str, Any]:
    cfg = engine.state.config
    return {
        "name": name,
        "arn": info["arn"],
        "createdAt": info["createdAt"],
        "version": engine.state.eks_cluster(info["arn"]).version,
        "endpoint": endpoint,
        "roleArn": f"arn:aws:iam::{cfg.account_id}:role/{name}-cluster-role",
        "resourcesVpcConfig": {
            "subnetIds": info["subnets"],
            "securityGroupIds": info["securityGroupIds"],
            "clusterSecurityGroupId": "sg-0000000000000000c",
            "vpcId": "vpc-00000000000000001",
            "endpointPublicAccess": True,
            "endpointPrivateAccess": False,
            "publicAccessCidrs": ["0.0.0.0/0"],
        },
        "kubernetesNetworkConfig": {"serviceIpv4Cidr": "172.20.0.0/16", "ipFamily": "ipv4"},
        "logging": {
            "clusterLogging": [
                {
                    "types": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
                    "enabled": False,
                }
            ]
        },
        "identity": {"oidc": {"issuer": f"{endpoint}/oidc/id/{name}"}},
        "status": "ACTIVE",
        "certificateAuthority": {"data": ca_data},
        "platformVersion": "eks.1",
        "tags": {},
        "health": {"issues": []},
        "accessConfig": {"authenticationMode": "API_AND_CONFIG_MAP"},
    }


def _endpoint(request: Request) -> tuple[str, str]:
    """The cluster endpoint and its CA data: the HTTPS Kubernetes port when the app has one."""
    tls = getattr(request.app.state, "kubernetes_tls", None)
    if tls is None:
        return str(request.base_url).rstrip("/"), CERTIFICATE_AUTHORITY_DATA
    host = request.url.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"https://{host}:{tls.port}", tls.certificate_authority_data


async def _describe_cluster(request: Request) -> Response:
    engine = request.app.state.engine
    name = request.path_params["name"]

    def describe():
        info = clusters(engine).get(name)
        if info is None:
            raise ResourceNotFoundException(f"No cluster found for name: {name}.")
        return {"cluster": _cluster(engine, name, info, *_endpoint(request))}

    return await aws_call(request, "eks", "DescribeCluster", describe)


async def _list_clusters(request: Request) -> Response:
    engine = request.app.state.engine

    def list_clusters():
        raw_limit = request.query_params.get("maxResults")
        # ASCII digits only (Python's int() also reads "１２"), at most 3 of them: 1..100
        is_number = raw_limit is not None and raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 3
        limit = int(raw_limit) if is_number else (_LIST_LIMIT if raw_limit is None else 0)
        if not 1 <= limit <= _LIST_LIMIT:
            shown = raw_limit if raw_limit is None or len(raw_limit) <= 40 else f"{raw_limit[:40]}... ({len(raw_limit)} characters)"
            raise InvalidParameterException(
                f"maxResults {shown!r} is invalid: it must be an integer between 1 and {_LIST_LIMIT}."
            )
        names = sorted(clusters(engine))
        token = request.query_params.get("nextToken")
        start = names.index(token) if token in names else 0
        if token and token not in names:
            raise InvalidParameterException(f"The nextToken {token[:200]!r} is invalid.")
        page = names[start : start + limit]
        body: dict[str, Any] = {"clusters": page}
        if start + limit < len(names):
            body["nextToken"] = names[start + limit]
        return body

    return await aws_call(request, "eks", "ListClusters", list_clusters)


def eks_routes() -> list[Route]:
    return [
        Route("/clusters", _list_clusters, methods=["GET"]),
        Route("/clusters/{name}", _describe_cluster, methods=["GET"]),
    ]
