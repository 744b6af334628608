"""The deployment fixture: one real Airflow deployment (PostgreSQL, api-server, scheduler, dag-processor,
triggerer, LocalExecutor) and the local engine, shared by every scenario of a module.

Skipped, with the reason printed by ``-ra``, where no PostgreSQL server can be started (see
:func:`tests.deployment.postgres.unavailable_reason`). On a failure the components' logs are copied to
``test-artifacts/deployment/``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import boto3
import pytest

from .api import AirflowApi
from .postgres import start_cluster, unavailable_reason
from .stack import ADMIN, ARTIFACTS, Deployment


SAID: list[str] = []
"""What each scenario tried and what held (``said`` in test_deployment.py), printed at the end of the run."""


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if SAID:
        terminalreporter.section("deployment: what was tried and what held")
        for line in SAID:
            terminalreporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        item.session.config._deployment_failed = True  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def deployment(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"deployment tests skipped: {reason}")
    base = Path(tempfile.mkdtemp(prefix="batch-eks-deployment-"))
    cluster = start_cluster(base / "postgres")
    stack = Deployment(base_dir=base, database=cluster)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        cluster.stop()
        if getattr(request.config, "_deployment_failed", False):
            target = ARTIFACTS / request.module.__name__.rsplit(".", 1)[-1]
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(stack.log_dir, target / "components")
            if (stack.home / "logs").exists():
                shutil.copytree(stack.home / "logs", target / "task-logs", symlinks=False, dirs_exist_ok=True)
            shutil.copy(cluster.log_file, target / "postgres.log")
            print(f"\ndeployment logs copied to {target}")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> Iterator[AirflowApi]:
    client = AirflowApi(deployment.api_url, ADMIN, deployment.password)
    yield client
    client.close()


@pytest.fixture(scope="module")
def batch(deployment: Deployment):
    return boto3.client(
        "batch", endpoint_url=deployment.engine_url, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )
