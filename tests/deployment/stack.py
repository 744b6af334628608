"""A real Airflow deployment on this machine for the deployment tests.

:class:`Deployment` starts, in this order and each in its own process group: the local engine
(``batch-eks local serve --blueprint data-on-eks``), ``airflow db migrate`` on the private PostgreSQL cluster,
then ``airflow api-server``, ``scheduler`` (LocalExecutor), ``dag-processor`` and ``triggerer``. Their output
goes to one log file each under ``<base>/logs``; :meth:`Deployment.stop` stops every group it started
(SIGTERM, then SIGKILL), :meth:`Deployment.kill` SIGKILLs one component (the triggerer scenario) and
:meth:`Deployment.start_component` starts it again.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from batch_eks_provider.tools.airflow_local import wait_until_up

from .postgres import Cluster, free_port

__all__ = ["ARTIFACTS", "Deployment", "ROOT", "ADMIN", "COMPONENTS"]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "deployment"  # logs of a failed module, the UI scenario's screenshots
ADMIN = "admin"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


@dataclass
class Deployment:
    base_dir: Path
    database: Cluster
    parallelism: int = 6
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    api_port: int = field(default_factory=free_port)
    engine_port: int = field(default_factory=free_port)

    @property
    def home(self) -> Path:
        return self.base_dir / "home"

    @property
    def log_dir(self) -> Path:
        return self.base_dir / "logs"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def engine_url(self) -> str:
        return f"http://127.0.0.1:{self.engine_port}"

    def deployment_dags_dir(self) -> Path:
        """A folder holding only the test DAGs written for this module (tests/dags/deployment_*.py)."""
        folder = self.base_dir / "deployment-dags"
        folder.mkdir(parents=True, exist_ok=True)
        for dag_file in sorted((ROOT / "tests" / "dags").glob("deployment_*.py")):
            link = folder / dag_file.name
            if not link.exists():
                link.symlink_to(dag_file)
        return folder

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_", "PYTEST"))}
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        env["PYTHONPATH"] = str(ROOT)
        passwords = self.home / "simple_auth_manager_passwords.json.generated"
        self.home.mkdir(parents=True, exist_ok=True)
        passwords.write_text(json.dumps({ADMIN: self.password}))
        bundles = [
            {"name": "example-dags", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(ROOT / "dags")}},
            {"name": "deployment-dags", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(self.deployment_dags_dir())}},
        ]
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database.sqlalchemy_url,
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "256",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                # a loaded 2-core machine can keep the api-server busy for seconds: give a task's calls to the
                # execution API time instead of timing out after 5 s and retrying a state change already done
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "90",
                # and a task's parse of its DAG file time (the default 30 s fails tasks on a loaded machine)
                "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "300",
                "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "300",
                "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
                "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": "deployment-tests-secret",
                "AIRFLOW__API_AUTH__JWT_SECRET": "deployment-tests-jwt-secret-0123456789abcdef",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                # a loaded 2-core machine stalls the scheduler's loop: one stalled 33 s with 200 mapped tasks, past
                # the 30 s default, and the scheduler reset its own 38 queued and running tasks as orphans (a try
                # lost each, and two failed on the executor's stale events). Health thresholds sized for the load:
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "180",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
                # how long a SIGKILLed triggerer's triggers wait for the restarted one to take them over
                "AIRFLOW__SCHEDULER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "30",
                "AIRFLOW__TRIGGERER__CAPACITY": "1000",
                "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                    {
                        "conn_type": "aws", "login": "local", "password": "local",
                        "extra": {"endpoint_url": self.engine_url, "region_name": "us-east-1"},
                    }
                ),
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
        return env

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.base_dir, start_new_session=True
            )
        self.processes[name] = process
        return process

    def start_component(self, name: str) -> subprocess.Popen:
        return self._spawn(name, [str(Path(sys.executable).parent / "airflow"), name], self.env())

    def start(self, timeout: float = 180.0) -> None:
        engine = self._spawn(
            "engine",
            [
                sys.executable, "-m", "batch_eks_provider.cli", "local", "serve", "--blueprint", "data-on-eks",
                "--port", str(self.engine_port), "--state-dir", str(self.base_dir / "engine"),
            ],
            {**self.env(), "PYTHONPATH": str(ROOT)},
        )
        wait_until_up(f"{self.engine_url}/_local/health", timeout=60, process=engine)
        with open(self.log_dir / "db-migrate.log", "ab") as log:
            migrate = subprocess.run(
                [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                stdout=log, stderr=subprocess.STDOUT, env=self.env(), cwd=self.base_dir, timeout=timeout,
            )
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed ({migrate.returncode}); see {self.log_dir / 'db-migrate.log'}")
        for name in COMPONENTS:
            self.start_component(name)
        wait_until_up(f"{self.api_url}/api/v2/monitor/health", timeout=timeout, process=self.processes["api-server"])

    def kill(self, name: str) -> None:
        """SIGKILL every process of component ``name``'s group and reap it (a crash, not a shutdown)."""
        process = self.processes.pop(name)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)

    def stop(self) -> None:
        """Stop every process group this deployment started: SIGTERM, then SIGKILL after 15 s."""
        for name, process in reversed(list(self.processes.items())):
            for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + grace
                while time.monotonic() < deadline:
                    process.poll()
                    try:
                        os.killpg(process.pid, 0)
                    except ProcessLookupError:
                        break
                    time.sleep(0.2)
                else:
                    continue
                break
        self.processes.clear()
