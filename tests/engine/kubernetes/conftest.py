"""Fixtures of the engine's Kubernetes / EKS / CloudWatch Logs tests."""

from __future__ import annotations

import pytest

from batch_eks_provider.local import EngineConfig, LocalEngine, ManualClock
from tests.support.aws import aws_client
from tests.support.kubernetes import core_v1


@pytest.fixture
def core(engine):
    """CoreV1Api against the engine, built from EKS DescribeCluster."""
    return core_v1(engine.url)


@pytest.fixture
def manual_engine(tmp_path):
    """An engine on a ManualClock (nodes ready at once, pods kept 30 s after they end): tests move time."""
    config = EngineConfig(node_startup_seconds=0.0, pod_retention_seconds=30.0)
    with LocalEngine(
        blueprint="data-on-eks", state_dir=tmp_path / "engine", config=config, clock=ManualClock()
    ) as running:
        yield running


@pytest.fixture
def manual_batch(manual_engine):
    return aws_client("batch", manual_engine.url)
