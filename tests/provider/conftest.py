"""Fixtures of the provider suites: hooks on ``aws_default`` pointed at a fresh engine, an engine on a
ManualClock for the pod hook, the end-to-end DAG module, and a low trigger poll floor."""

from __future__ import annotations

import pytest


@pytest.fixture
def batch_hook(aws_default):
    from batch_eks_provider.hooks.batch import BatchEksHook

    return BatchEksHook(aws_conn_id="aws_default")


@pytest.fixture
def ce_hook(aws_default):
    from batch_eks_provider.hooks.compute_environment import BatchEksComputeEnvironmentHook

    return BatchEksComputeEnvironmentHook(aws_conn_id="aws_default")


@pytest.fixture(autouse=True)
def cold_worker():
    """Each test starts as a cold worker: no queue, compute-environment or job-definition facts remembered."""
    from batch_eks_provider.hooks.facts import facts_cache

    facts_cache.clear()
    yield
    facts_cache.clear()


@pytest.fixture
def pod_engine(tmp_path, monkeypatch):
    """Engine with the data-on-eks blueprint on a ManualClock: nodes ready at once, pods kept 30 s after they end."""
    from batch_eks_provider.local import EngineConfig, LocalEngine, ManualClock
    from tests.support.provider import aws_connection_json

    config = EngineConfig(node_startup_seconds=0.0, pod_retention_seconds=30.0)
    with LocalEngine(
        blueprint="data-on-eks", state_dir=tmp_path / "engine", config=config, clock=ManualClock()
    ) as running:
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json(running.url))
        yield running


@pytest.fixture
def pod_batch(pod_engine):
    from tests.support.aws import aws_client

    return aws_client("batch", pod_engine.url)


@pytest.fixture
def e2e_dags():
    from importlib import import_module

    return import_module("tests.dags.batch_eks_e2e")


@pytest.fixture(autouse=True)
def fast_trigger_polls(monkeypatch):
    """DAGs here poll every 0.2 s and explain after a second or so; the production floors (1 s polls, 30 s
    between explanations) would only slow the runs down."""
    from batch_eks_provider.waiting import explain, policy

    monkeypatch.setattr(policy, "MIN_POLL_INTERVAL", 0.05)
    monkeypatch.setattr(policy, "MIN_EXPLAIN_INTERVAL", 0.5)
    explain.queue_facts.clear()
    yield
    explain.queue_facts.clear()
