"""Fixtures of the engine API tests: a boto3 Batch client whose every response is shape-checked, and a
raw HTTP caller for what boto3 would refuse to send."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest

from tests.engine.api.shapes import ResponseShapeRecorder


@pytest.fixture
def shapes() -> ResponseShapeRecorder:
    return ResponseShapeRecorder()


@pytest.fixture
def batch(engine, shapes):
    """boto3 Batch client on the engine; at the end of the test every response must have matched its shape."""
    client = boto3.client(
        "batch", endpoint_url=engine.url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    shapes.attach(client)
    yield client
    assert shapes.problems == [], "responses that do not match botocore's output shapes:\n" + "\n".join(shapes.problems)


class RawResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_type(self) -> str | None:
        return self.headers.get("x-amzn-errortype")


def raw_call(url: str, path: str, body: bytes | str | None = None, method: str = "POST", headers: dict | None = None) -> RawResponse:
    """One unsigned HTTP request to the engine, as a client other than boto3 would send it."""
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(
        url + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return RawResponse(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as e:
        return RawResponse(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


@pytest.fixture
def raw(engine):
    """``raw(path, body, method=...)`` -> :class:`RawResponse`."""
    return lambda path, body=None, **kw: raw_call(engine.url, path, body, **kw)
