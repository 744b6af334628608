"""`make airflow` driven by a person's browser: headless Chromium logs in to the Airflow UI, triggers the
hello-world DAG with a Param changed in the trigger form, waits for the run to succeed, saves a screenshot.

Needs Debian's ``chromium`` (``tests/support/browser.py`` installs it when missing, as root with apt-get)
and the ``playwright`` Python package (the ``[test]`` extra). When Chromium cannot be had, the test fails.
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

import boto3
import pytest

from tests.support.browser import CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
STARTUP_TIMEOUT = 420.0  # airflow standalone takes 30-60 s on a quiet machine, minutes on a busy one
RUN_TIMEOUT = 240.0
DAG_ID = "batch_eks_hello_world"
GREETING = "Hello from the trigger form"


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


@pytest.mark.timeout(900)
def test_trigger_the_hello_world_dag_from_the_ui_with_a_param_changed(local_airflow, chromium):
    from playwright.sync_api import sync_playwright

    url = local_airflow["url"]
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "airflow-ui-hello-world-success.png"
    screenshot.unlink(missing_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        try:
            page.goto(f"{url}/dags/{DAG_ID}", timeout=120_000)
            page.locator("input[name=username]").fill("admin")
            page.locator("input[type=password]").fill(local_airflow["password"])
            page.locator("button[type=submit]").click()
            page.wait_for_url(f"**/dags/{DAG_ID}**")

            # The DAG shows up once the dag-processor has parsed dags/; the Trigger button with it.
            page.get_by_test_id("trigger-dag-button").click(timeout=180_000)
            dialog = page.get_by_role("dialog")
            greeting = dialog.locator("input[name=element_greeting]")
            if not greeting.is_visible():
                dialog.get_by_role("button", name="Run Parameters").click()
            greeting.fill(GREETING)
            dialog.get_by_role("button", name="Trigger", exact=True).click()
            page.wait_for_url(f"**/dags/{DAG_ID}/runs/**", timeout=240_000)  # the POST is slow on a busy machine

            state = page.get_by_test_id("header-card").get_by_test_id("state-badge")
            deadline = time.monotonic() + RUN_TIMEOUT
            while True:
                text = state.inner_text().strip().lower() if state.count() else ""
                if text in ("success", "failed"):
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"the DAG run did not finish within {RUN_TIMEOUT:.0f}s (state {text!r})")
                page.wait_for_timeout(2000)
                page.reload()
            page.wait_for_timeout(1500)  # let the grid draw the finished task boxes
            page.screenshot(path=str(screenshot))
            assert text == "success", f"the DAG run ended {text!r}; see {screenshot}"
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "airflow-ui-failure.png"))
            raise
        finally:
            browser.close()

    # The Param typed in the form reached both Batch jobs.
    batch = boto3.client(
        "batch", endpoint_url=local_airflow["engine_url"], region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )
    ids = [
        job["jobId"]
        for queue in ("doeks-JQ1_OD", "doeks-JQ1_SPOT")
        for job in batch.list_jobs(jobQueue=queue, jobStatus="SUCCEEDED")["jobSummaryList"]
    ]
    latest: dict[str, dict] = {}
    for job in sorted(batch.describe_jobs(jobs=ids)["jobs"], key=lambda j: j["createdAt"]):
        latest[job["jobName"]] = job
    greetings = {
        name: {e["name"]: e["value"] for e in job["eksProperties"]["podProperties"]["containers"][0]["env"]}.get("GREETING")
        for name, job in latest.items()
        if name.startswith("doeks_hello_")  # batch_eks_daily also runs once when make airflow starts
    }
    assert greetings == {"doeks_hello_on_demand": GREETING, "doeks_hello_spot": GREETING}
    assert screenshot.stat().st_size > 10_000
