"""Helpers for the provider-hook tests: read the engine's API counters over HTTP, connection URIs."""

from __future__ import annotations

import json
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["api_calls", "post_admin", "aws_connection_json"]


def api_calls(engine_url: str, operation: str | None = None, outcome: str | None = None) -> int:
    """How many Batch API requests the engine answered (``GET /metrics``), by operation and outcome."""
    with urllib.request.urlopen(f"{engine_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    total = 0
    for family in text_string_to_metric_families(text):
        if family.name != "batch_eks_api_requests":
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            labels = sample.labels
            if labels.get("service") != "batch":
                continue
            if operation is not None and labels.get("operation") != operation:
                continue
            if outcome is not None and labels.get("outcome") != outcome:
                continue
            total += int(sample.value)
    return total


def post_admin(engine_url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{engine_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def aws_connection_json(engine_url: str, **extra: object) -> str:
    """An Airflow AWS connection (JSON form) pointing at the engine, with more ``extra`` fields."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": engine_url, "region_name": "us-east-1", **extra},
        }
    )
