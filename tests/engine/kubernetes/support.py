"""Shared by the engine's Kubernetes / EKS / CloudWatch Logs tests: clients, a gated job, wire shape checks."""

from __future__ import annotations

import base64
import json
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders

from tests.helpers import wait_for

__all__ = [
    "aws_client",
    "core_v1",
    "submit_gated_job",
    "submit_command",
    "raw_aws",
    "assert_output_shape",
    "running_pod",
]

QUEUE = "doeks-JQ1_OD"
DEFINITION = "doeks-hello-world"
NAMESPACE = "doeks-aws-batch"
CLUSTER = "doeks-batch"
LOG_GROUP = f"/aws/containerinsights/{CLUSTER}/application"


def aws_client(service: str, url: str):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def core_v1(url: str):
    """A CoreV1Api built the way a user builds it on EKS: the endpoint from DescribeCluster, a bearer token."""
    from kubernetes import client

    cluster = aws_client("eks", url).describe_cluster(name=CLUSTER)["cluster"]
    configuration = client.Configuration()
    configuration.host = cluster["endpoint"]
    if cluster["endpoint"].startswith("https://"):  # verify the engine against the cluster CA, as on EKS
        ca = tempfile.NamedTemporaryFile("wb", prefix="engine-ca-", suffix=".crt", delete=False)
        with ca:
            ca.write(base64.b64decode(cluster["certificateAuthority"]["data"]))
        configuration.ssl_ca_cert = ca.name
    configuration.api_key = {"authorization": "Bearer k8s-aws-v1.anything"}
    return client.CoreV1Api(client.ApiClient(configuration))


def submit_command(
    batch, script: str, name: str = "k8s-test", containers: list[dict[str, Any]] | None = None
) -> str:
    override = containers or [{"command": ["sh", "-c", script], "args": []}]
    return batch.submit_job(
        jobName=name,
        jobQueue=QUEUE,
        jobDefinition=DEFINITION,
        eksPropertiesOverride={"podProperties": {"containers": override}},
    )["jobId"]


def submit_gated_job(batch, gate: Path, before: str = "first", after: str = "second") -> str:
    """A job that prints ``before``, waits until the test creates ``gate``, prints ``after`` and exits 0."""
    script = f"echo {before}; while [ ! -f {gate} ]; do sleep 0.02; done; echo {after}"
    return submit_command(batch, script, name="gated")


def running_pod(core, job_id: str, timeout: float = 20.0):
    """The pod of a job, once it exists and runs."""

    def find():
        pods = core.list_namespaced_pod(
            NAMESPACE, label_selector=f"batch.amazonaws.com/job-id={job_id}"
        ).items
        return pods[0] if pods and pods[0].status.phase == "Running" else None

    return wait_for(find, timeout=timeout, what=f"the pod of job {job_id} to run")


def raw_aws(
    url: str, method: str, path: str, *, target: str | None = None, body: dict | None = None
) -> tuple[int, dict]:
    """One unsigned request as it goes over the wire (the engine accepts any request on loopback)."""
    headers = {}
    data = None
    if target:
        headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
        data = json.dumps(body or {}).encode()
    request = urllib.request.Request(url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


_LOADER = botocore.loaders.Loader()
_TYPES = {
    "string": str,
    "integer": int,
    "long": int,
    "boolean": bool,
    "timestamp": (int, float),
    "double": (int, float),
    "float": (int, float),
    "list": list,
    "map": dict,
    "structure": dict,
    "blob": str,
}


def _check(shapes: dict[str, Any], shape_name: str, value: Any, where: str) -> None:
    shape = shapes[shape_name]
    kind = shape["type"]
    assert isinstance(value, _TYPES[kind]) and not (
        kind in ("integer", "long") and isinstance(value, bool)
    ), f"{where}: {value!r} is not a {kind}"
    if kind == "string" and "enum" in shape:
        assert value in shape["enum"], f"{where}: {value!r} not in {shape['enum']}"
    if kind == "structure":
        members = shape["members"]
        unknown = set(value) - set(members)
        assert not unknown, f"{where}: unknown keys {sorted(unknown)}"
        for required in shape.get("required", []):
            assert required in value, f"{where}: required key {required!r} missing"
        for key, item in value.items():
            _check(shapes, members[key]["shape"], item, f"{where}.{key}")
    elif kind == "list":
        for i, item in enumerate(value):
            _check(shapes, shape["member"]["shape"], item, f"{where}[{i}]")
    elif kind == "map":
        for key, item in value.items():
            _check(shapes, shape["key"]["shape"], key, f"{where} key")
            _check(shapes, shape["value"]["shape"], item, f"{where}[{key!r}]")


def assert_output_shape(service: str, operation: str, body: dict[str, Any]) -> None:
    """The wire body has only keys of the operation's botocore output shape, of the right types."""
    model = _LOADER.load_service_model(service, "service-2")
    output = model["operations"][operation]["output"]["shape"]
    _check(model["shapes"], output, body, operation)
