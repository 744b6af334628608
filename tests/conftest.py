"""Test set-up: an isolated Airflow home (SQLite), the example and test DAG bundles, and engines.

Environment variables are set here, before anything imports Airflow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="batch-eks-tests-airflow-"))

os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {"name": "examples", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {"path": str(ROOT / "dags")}},
        {"name": "tests", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {"path": str(ROOT / "tests" / "dags")}},
    ]
)
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
os.environ["AIRFLOW__BATCH_EKS__FACTS_CACHE_DIR"] = str(AIRFLOW_HOME / "batch-eks-facts")  # this session's own
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)

from batch_eks_provider.local import LocalEngine  # noqa: E402
from tests.support.aws import aws_client  # noqa: E402
from tests.support.provider import aws_connection_json  # noqa: E402

pytest_plugins = ["tests.support.browser"]  # the chromium fixture


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the test Airflow database once per session."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, env=os.environ.copy()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return AIRFLOW_HOME


@pytest.fixture
def engine(tmp_path):
    """A fresh engine with the data-on-eks blueprint, on its own port and state directory."""
    with LocalEngine(blueprint="data-on-eks", state_dir=tmp_path / "engine") as running:
        yield running


@pytest.fixture
def aws_default(engine, monkeypatch):
    """Point Airflow's ``aws_default`` connection at the engine."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json(engine.url))
    return engine


@pytest.fixture
def batch(engine):
    """A boto3 Batch client on the engine."""
    return aws_client("batch", engine.url)
