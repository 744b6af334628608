"""docker/entrypoint.sh run with bash on this machine (no Docker engine here), with a fake `airflow` on PATH
that records how it was called; and the image files checked against the project."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"

FAKE_AIRFLOW = """#!/usr/bin/env bash
python3 - "$@" <<'PY'
import json, os, sys
with open(os.environ["FAKE_AIRFLOW_RECORD"], "w") as f:
    json.dump({"args": sys.argv[1:], "conn": os.environ.get("AIRFLOW_CONN_AWS_DEFAULT"),
               "passwords_file": os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")}, f)
PY
"""


@pytest.fixture
def run_entrypoint(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "airflow").write_text(FAKE_AIRFLOW)
    (bin_dir / "airflow").chmod(0o755)
    record = tmp_path / "airflow-call.json"

    def run(*args: str, **env: str) -> tuple[subprocess.CompletedProcess, dict | None]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BATCH_EKS", "AWS_"))}
        full_env = {
            **base,
            "PATH": f"{bin_dir}{os.pathsep}{base['PATH']}",
            "FAKE_AIRFLOW_RECORD": str(record),
            "AIRFLOW_ENTRYPOINT": str(tmp_path / "no-official-entrypoint"),
            "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
            **env,
        }
        record.unlink(missing_ok=True)
        result = subprocess.run(["bash", str(ENTRYPOINT), *args], env=full_env, capture_output=True, text=True, timeout=60)
        return result, json.loads(record.read_text()) if record.exists() else None

    return run


def test_local_target_waits_for_the_engine_and_points_aws_default_at_it(run_entrypoint, engine):
    result, call = run_entrypoint("standalone", BATCH_EKS_ENGINE_URL=engine.url, AWS_DEFAULT_REGION="eu-west-1")
    assert result.returncode == 0, result.stderr
    assert call["args"] == ["standalone"]
    conn = json.loads(call["conn"])
    assert conn["conn_type"] == "aws"
    assert conn["extra"] == {"endpoint_url": engine.url, "region_name": "eu-west-1"}
    assert f"aws_default -> local engine at {engine.url}" in result.stderr


def test_local_target_fails_naming_the_url_when_the_engine_never_answers(run_entrypoint):
    result, call = run_entrypoint("standalone", BATCH_EKS_ENGINE_URL="http://127.0.0.1:9", BATCH_EKS_ENGINE_WAIT="1")
    assert result.returncode == 1
    assert call is None, "airflow must not start without its engine"
    assert "the local engine at http://127.0.0.1:9 did not answer within 1s" in result.stderr


def test_aws_target_uses_the_default_credential_chain_and_no_endpoint(run_entrypoint):
    result, call = run_entrypoint("scheduler", BATCH_EKS_TARGET="aws", AWS_DEFAULT_REGION="us-west-2")
    assert result.returncode == 0, result.stderr
    assert call["args"] == ["scheduler"]
    assert json.loads(call["conn"]) == {"conn_type": "aws", "extra": {"region_name": "us-west-2"}}


def test_a_connection_given_by_the_user_wins(run_entrypoint):
    mine = '{"conn_type": "aws", "extra": {"role_arn": "arn:aws:iam::123456789012:role/airflow"}}'
    result, call = run_entrypoint("api-server", BATCH_EKS_TARGET="aws", AIRFLOW_CONN_AWS_DEFAULT=mine)
    assert result.returncode == 0, result.stderr
    assert call["conn"] == mine


def test_admin_password_is_written_where_the_simple_auth_manager_reads_it(run_entrypoint, tmp_path):
    result, call = run_entrypoint("standalone", BATCH_EKS_TARGET="aws", AIRFLOW_ADMIN_PASSWORD="s3cret")
    assert result.returncode == 0, result.stderr
    passwords = Path(call["passwords_file"])
    assert passwords.parent == tmp_path / "airflow-home"
    assert json.loads(passwords.read_text()) == {"admin": "s3cret"}


def test_an_unknown_target_is_refused(run_entrypoint):
    result, call = run_entrypoint("standalone", BATCH_EKS_TARGET="gcp")
    assert result.returncode == 2
    assert call is None
    assert "BATCH_EKS_TARGET must be 'local' or 'aws', not 'gcp'" in result.stderr


def test_the_official_entrypoint_runs_next_when_present(run_entrypoint, tmp_path):
    official = tmp_path / "official-entrypoint"
    official.write_text('#!/usr/bin/env bash\nexec airflow official "$@"\n')
    official.chmod(0o755)
    result, call = run_entrypoint("standalone", BATCH_EKS_TARGET="aws", AIRFLOW_ENTRYPOINT=str(official))
    assert result.returncode == 0, result.stderr
    assert call["args"] == ["official", "standalone"]


def test_the_image_is_built_from_the_airflow_version_the_project_tests_with():
    from airflow import __version__ as airflow_version

    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert f"ARG AIRFLOW_VERSION={airflow_version}\n" in dockerfile
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python3.11" in dockerfile
    assert "COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/batch-eks-entrypoint" in dockerfile


def test_compose_runs_the_engine_on_airflows_loopback_with_the_blueprint():
    compose = yaml.safe_load((ROOT / "docker" / "docker-compose.yml").read_text())
    airflow, engine = compose["services"]["airflow"], compose["services"]["engine"]
    assert engine["network_mode"] == "service:airflow"
    assert engine["command"][:3] == ["batch-eks", "local", "serve"]
    assert "--blueprint" in engine["command"] and "data-on-eks" in engine["command"]
    assert airflow["environment"]["BATCH_EKS_ENGINE_URL"] == "http://127.0.0.1:4566"
    assert engine["command"][engine["command"].index("--port") + 1] == "4566"
    assert airflow["ports"] == ["127.0.0.1:8080:8080"]


def test_compose_leaves_unset_aws_variables_unset_and_checks_health():
    compose = yaml.safe_load((ROOT / "docker" / "docker-compose.yml").read_text())
    airflow, engine = compose["services"]["airflow"], compose["services"]["engine"]
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert airflow["environment"][name] is None, name  # passed through when set, never set to ""
    assert "/api/v2/monitor/health" in " ".join(airflow["healthcheck"]["test"])
    assert "/_local/health" in " ".join(engine["healthcheck"]["test"])


def test_the_image_copies_what_the_wheel_build_needs():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'license-files = ["LICENSE"]' in pyproject and "LICENSE /opt/batch-eks-provider/" in dockerfile
    assert '"dags/*.py"' in pyproject and "COPY --chown=airflow:root dags /opt/batch-eks-provider/dags" in dockerfile
