"""AWS on the engine as a user reaches it: boto3 clients, the AWS CLI, one raw request on the wire, and a check
of a wire body against botocore's output shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import boto3
import botocore.loaders

__all__ = ["CREDENTIALS", "aws_client", "aws_cli", "raw_aws", "assert_output_shape"]

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
"""The region and the (any) keys every client of the tests signs with."""


def aws_client(service: str, url: str):
    """A boto3 client of ``service`` on the engine at ``url``."""
    return boto3.client(service, endpoint_url=url, **CREDENTIALS)


def aws_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``aws <args>`` (the AWS CLI of this Python) with the test credentials and no user config or pager; pass
    ``--endpoint-url`` among ``args`` where the call goes to the engine. Returns the finished process (text)."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": CREDENTIALS["region_name"],
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_PAGER": "",
    }
    env.pop("AWS_PROFILE", None)
    command = [sys.executable, "-m", "awscli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


def raw_aws(url: str, method: str, path: str, *, target: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    """One unsigned request as it goes over the wire (the engine accepts any request on loopback): a JSON 1.1
    call when ``target`` (``X-Amz-Target``) is given, else a plain ``method`` on ``path``. Returns (status, JSON)."""
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
