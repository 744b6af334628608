"""`make airflow`: the local engine plus ``airflow standalone`` with the example DAGs, on this machine.

Starts ``batch-eks local serve --blueprint data-on-eks --state-dir .airflow/engine`` and ``airflow standalone``
(scheduler, dag-processor, triggerer and the api-server with the UI) with ``dags/`` loaded, the example DAGs
unpaused, and the ``aws_default`` connection pointing at the engine. Prints the UI's URL and the admin login,
then runs until Ctrl-C, when it stops both.

Settings (environment variables):

- ``AIRFLOW_PORT`` (default 8080): the UI / API port, served on 127.0.0.1.
- ``ENGINE_PORT`` (default 4566): the local engine's port.
- ``AIRFLOW_LOCAL_DIR`` (default ``.airflow`` in the repository): Airflow's home and the engine's state.
- ``AIRFLOW_DB`` (default ``sqlite``): ``postgres`` keeps Airflow's metadata DB in a private PostgreSQL cluster
  (Debian's ``postgresql`` package; ``<dir>/postgres``, started on a free loopback port and stopped with the rest)
  and runs the LocalExecutor, as a production deployment does.
- ``AIRFLOW_ADMIN_PASSWORD``: the admin's password; otherwise one is generated on the first start and kept in
  ``<dir>/home/simple_auth_manager_passwords.json.generated``.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .example_dags import example_dags_folder
from .local_postgres import Cluster, start_cluster, unavailable_reason

__all__ = ["LocalAirflowSettings", "admin_password", "airflow_env", "main", "port_in_use", "wait_until_up"]

ROOT = Path.cwd()  # state and logs go under the directory it runs in (the checkout, for make)
ADMIN_USER = "admin"


@dataclass(frozen=True)
class LocalAirflowSettings:
    """Where ``make airflow`` keeps its files and which ports it serves on."""

    base_dir: Path
    airflow_port: int = 8080
    engine_port: int = 4566
    database: str = "sqlite"

    @property
    def airflow_home(self) -> Path:
        return self.base_dir / "home"

    @property
    def engine_state_dir(self) -> Path:
        return self.base_dir / "engine"

    @property
    def postgres_dir(self) -> Path:
        return self.base_dir / "postgres"

    @property
    def passwords_file(self) -> Path:
        return self.airflow_home / "simple_auth_manager_passwords.json.generated"

    @property
    def worker_log_port(self) -> int:
        """Where the scheduler's LocalExecutor serves task logs to the UI (Airflow's default is 8793)."""
        return self.airflow_port + 1

    @property
    def trigger_log_port(self) -> int:
        """Where the triggerer serves deferred tasks' logs (Airflow's default is 8794)."""
        return self.airflow_port + 2

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    @property
    def engine_url(self) -> str:
        return f"http://127.0.0.1:{self.engine_port}"

    @classmethod
    def from_environment(cls) -> "LocalAirflowSettings":
        return cls(
            base_dir=Path(os.environ.get("AIRFLOW_LOCAL_DIR", ROOT / ".airflow")).resolve(),
            airflow_port=int(os.environ.get("AIRFLOW_PORT", "8080")),
            engine_port=int(os.environ.get("ENGINE_PORT", "4566")),
            database=os.environ.get("AIRFLOW_DB", "sqlite").strip().lower() or "sqlite",
        )


def admin_password(settings: LocalAirflowSettings, wanted: str | None = None) -> str:
    """The admin's password: ``wanted`` if given, else the one kept from an earlier start, else a new one.

    It is written where Airflow's simple auth manager reads its users' passwords, so the UI accepts it.
    """
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    kept: dict[str, str] = {}
    if settings.passwords_file.exists():
        kept = json.loads(settings.passwords_file.read_text() or "{}")
    password = wanted or kept.get(ADMIN_USER) or secrets.token_urlsafe(12)
    if kept.get(ADMIN_USER) != password:
        kept[ADMIN_USER] = password
        settings.passwords_file.write_text(json.dumps(kept) + "\n")
    return password


def airflow_env(
    settings: LocalAirflowSettings, base: dict[str, str] | None = None, database_url: str | None = None
) -> dict[str, str]:
    """The environment ``airflow standalone`` runs with: its home, the DAGs, the UI address, the connection,
    and (``database_url``) the PostgreSQL metadata DB with the LocalExecutor."""
    env = dict(os.environ if base is None else base)
    if database_url:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = database_url
        env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")  # standalone starts its components as `airflow ...`
    env.update(
        {
            "AIRFLOW_HOME": str(settings.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(example_dags_folder()),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
                [{"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}}]
            ),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(settings.passwords_file),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.airflow_url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(settings.airflow_port),
            "AIRFLOW__API__BASE_URL": settings.airflow_url,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.worker_log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(settings.trigger_log_port),
            "AIRFLOW__CORE__PARALLELISM": "8",
            # SQLite serialises writers: give a task's calls to the execution API time instead of timing
            # out after 5 s and retrying a state change that already went through.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {
                    "conn_type": "aws",
                    "login": "local",
                    "password": "local",
                    "extra": {"endpoint_url": settings.engine_url, "region_name": "us-east-1"},
                }
            ),
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    return env


def wait_until_up(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers (any HTTP status), up to ``timeout`` seconds; fail early if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")
        time.sleep(0.5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(process: subprocess.Popen, name: str) -> None:
    """Stop the process group this module started for ``process`` (it leads its own session).

    SIGINT first (Airflow shuts its components down cleanly), then SIGTERM, then SIGKILL, until no process of
    the group is left: a component outliving ``airflow standalone`` is stopped too.
    """
    pgid = process.pid
    for sig, grace in ((signal.SIGINT, 15.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            process.poll()  # reap the leader so that a finished group reads as gone
            if not _group_alive(pgid):
                return
            time.sleep(0.2)
        print(f"    {name}: processes still running {grace:.0f}s after {sig.name}", flush=True)


def port_in_use(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main() -> int:
    settings = LocalAirflowSettings.from_environment()
    if settings.database not in ("sqlite", "postgres"):
        print(f"error: AIRFLOW_DB={settings.database!r} is not one of 'sqlite' (the default) or 'postgres'.", file=sys.stderr)
        return 1
    if settings.database == "postgres" and (reason := unavailable_reason()):
        print(f"error: AIRFLOW_DB=postgres needs a PostgreSQL server: {reason}.", file=sys.stderr)
        return 1
    for port, variable in ((settings.engine_port, "ENGINE_PORT"), (settings.airflow_port, "AIRFLOW_PORT")):
        if port_in_use(port):
            print(f"error: port {port} is already in use; stop what runs there or set {variable}=<another port>.", file=sys.stderr)
            return 1
    settings.engine_state_dir.mkdir(parents=True, exist_ok=True)
    password = admin_password(settings, os.environ.get("AIRFLOW_ADMIN_PASSWORD"))
    bin_dir = Path(sys.executable).parent
    print(f"==> starting the local engine on {settings.engine_url} (state in {settings.engine_state_dir})", flush=True)
    engine = subprocess.Popen(
        [
            str(bin_dir / "batch-eks"), "local", "serve", "--blueprint", "data-on-eks",
            "--state-dir", str(settings.engine_state_dir), "--port", str(settings.engine_port),
        ],
        start_new_session=True,
    )
    airflow: subprocess.Popen | None = None
    database: Cluster | None = None
    try:
        wait_until_up(f"{settings.engine_url}/_local/health", timeout=30, process=engine)
        if settings.database == "postgres":
            database = start_cluster(settings.postgres_dir)
            print(f"==> PostgreSQL on 127.0.0.1:{database.port} (data in {database.data_dir})", flush=True)
        print(f"==> starting airflow standalone (home {settings.airflow_home}); first start takes about a minute", flush=True)
        airflow = subprocess.Popen(
            [str(bin_dir / "airflow"), "standalone"],
            env=airflow_env(settings, database_url=database.sqlalchemy_url if database else None),
            start_new_session=True,
        )
        wait_until_up(f"{settings.airflow_url}/api/v2/monitor/health", timeout=240, process=airflow)
        print(
            "\n"
            f"==> Airflow UI: {settings.airflow_url}   login: {ADMIN_USER} / {password}\n"
            f"    AWS Batch on EKS (local engine): {settings.engine_url}   aws_default points at it\n"
            "    Example DAGs: batch_eks_hello_world, batch_eks_pipeline, batch_eks_fan_out, batch_eks_fair_share,\n"
            "    batch_eks_daily. Press Ctrl-C to stop.\n",
            flush=True,
        )
        return airflow.wait()
    except KeyboardInterrupt:
        return 0
    except (RuntimeError, TimeoutError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        print("==> stopping Airflow, the local engine" + (" and PostgreSQL" if database else ""), flush=True)
        if airflow is not None:
            _stop(airflow, "airflow standalone")
        _stop(engine, "local engine")
        if database is not None:
            database.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the stack as Ctrl-C does


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(main())
