"""`make airflow` starts and prints the UI's URL and the admin login.

The browser test (headless Chromium logs in, triggers the hello-world DAG with a Param changed in the trigger
form, sees the run succeed) runs on the deployment of tests/deployment/ (scheduler, triggerer, api-server and
dag-processor as separate processes on PostgreSQL): ``test_ui_trigger_with_a_changed_param_succeeds``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
STARTUP_TIMEOUT = 420.0  # airflow standalone takes 30-60 s on a quiet machine, minutes on a busy one


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _free_port_block(size: int) -> int:
    """A port P with P..P+size-1 free (the UI and its two log servers use consecutive ports)."""
    for _ in range(50):
        base = _free_port()
        if base + size < 65535 and all(_port_free(base + i) for i in range(size)):
            return base
    raise RuntimeError(f"no block of {size} free ports found")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _clean_env() -> dict[str, str]:
    """This process's environment without the test suite's Airflow settings (make airflow sets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}


@pytest.fixture(scope="module")
def local_airflow(tmp_path_factory):
    """Run `python -m batch_eks_provider.tools.airflow_local` (what `make airflow` runs) on free ports."""
    base_dir = tmp_path_factory.mktemp("make-airflow")
    airflow_port = _free_port_block(3)
    engine_port = _free_port()
    password = "ui-test-password"
    log_path = base_dir / "make-airflow.log"
    env = {
        **_clean_env(),
        "AIRFLOW_LOCAL_DIR": str(base_dir),
        "AIRFLOW_PORT": str(airflow_port),
        "ENGINE_PORT": str(engine_port),
        "AIRFLOW_ADMIN_PASSWORD": password,
    }
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "batch_eks_provider.tools.airflow_local"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while "==> Airflow UI:" not in log_path.read_text(errors="replace"):
            if process.poll() is not None:
                pytest.fail(f"make airflow exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"make airflow not ready after {STARTUP_TIMEOUT:.0f}s:\n{log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(1)
        banner = next(line for line in log_path.read_text(errors="replace").splitlines() if "==> Airflow UI:" in line)
        yield {
            "url": f"http://127.0.0.1:{airflow_port}",
            "engine_url": f"http://127.0.0.1:{engine_port}",
            "password": password,
            "banner": banner,
            "log": log_path,
        }
    finally:
        process.send_signal(signal.SIGTERM)  # airflow_local stops standalone and the engine, then exits
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(log_path, ARTIFACTS / "make-airflow.log")


@pytest.mark.timeout(900)
def test_make_airflow_prints_the_url_and_the_admin_login(local_airflow):
    assert f"Airflow UI: {local_airflow['url']}" in local_airflow["banner"]
    assert f"login: admin / {local_airflow['password']}" in local_airflow["banner"]
