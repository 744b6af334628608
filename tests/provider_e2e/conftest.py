"""Helpers for end-to-end DAG runs: read XCom of a finished run, count API calls in the engine's metrics."""

from __future__ import annotations

from typing import Any

import pytest
import requests


def api_requests(engine, operation: str) -> int:
    """``batch_eks_api_requests_total`` for one operation, every outcome."""
    text = requests.get(f"{engine.url}/metrics", timeout=5).text
    total = 0
    for line in text.splitlines():
        if line.startswith("batch_eks_api_requests_total{") and f'operation="{operation}"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def xcom(run, task_id: str, key: str = "return_value") -> Any:
    """The XCom ``key`` of ``task_id`` in a finished ``dag.test()`` run (None when absent)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=run.run_id, key=key, task_ids=task_id, dag_ids=run.dag_id)).first()
        return XComModel.deserialize_value(row) if row is not None else None


def task_states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def try_numbers(run) -> dict[str, int]:
    return {ti.task_id: ti.try_number for ti in run.get_task_instances()}


@pytest.fixture
def e2e_dags():
    from importlib import import_module

    return import_module("tests.dags.batch_eks_e2e")


@pytest.fixture(autouse=True)
def fast_trigger_polls(monkeypatch):
    """DAGs here poll every 0.2 s; the triggerer's floor (1 s, for production) would only slow the runs down."""
    from batch_eks_provider.triggers import poller

    monkeypatch.setattr(poller, "MIN_POLL_INTERVAL", 0.05)
