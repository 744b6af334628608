"""Fixtures of the BatchEksPodHook tests: an engine on a ManualClock and Airflow's aws_default pointing at it."""

from __future__ import annotations

import json
import urllib.request

import pytest

from batch_eks_provider.local import EngineConfig, LocalEngine, ManualClock
from tests.conftest import aws_connection_uri
from tests.engine_k8s.support import aws_client


@pytest.fixture
def pod_engine(tmp_path, monkeypatch):
    """Engine with the data-on-eks blueprint on a ManualClock: nodes ready at once, pods kept 30 s after they end."""
    config = EngineConfig(node_startup_seconds=0.0, pod_retention_seconds=30.0)
    with LocalEngine(
        blueprint="data-on-eks", state_dir=tmp_path / "engine", config=config, clock=ManualClock()
    ) as running:
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_uri(running.url))
        yield running


@pytest.fixture
def pod_batch(pod_engine):
    return aws_client("batch", pod_engine.url)


def advance_clock(engine, seconds: float) -> None:
    request = urllib.request.Request(
        f"{engine.url}/_local/clock/advance",
        data=json.dumps({"seconds": seconds}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).read()
