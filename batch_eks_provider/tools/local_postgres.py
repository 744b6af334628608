"""A private PostgreSQL cluster for Airflow's metadata DB: Debian's server binaries, one directory, a loopback port.

Used by ``AIRFLOW_DB=postgres make airflow`` (:mod:`.airflow_local`) and the deployment tests (tests/deployment/).
:func:`start_cluster` runs ``initdb`` (once: a directory already initialised is reused) and ``postgres`` directly
(no system service, no ``pg_ctlcluster``), as the ``postgres`` system user when run as root (PostgreSQL refuses to
run as root), with trust authentication on 127.0.0.1 only, and returns a :class:`Cluster` whose
:meth:`Cluster.stop` stops the server's process group. :func:`unavailable_reason` says why no cluster can be had
here (no server binaries, no unprivileged user).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Cluster", "free_port", "server_bin_dir", "start_cluster", "unavailable_reason"]

DATABASE = "airflow"
ROLE = "airflow"


def server_bin_dir() -> Path | None:
    """The newest Debian PostgreSQL server's bin dir (``/usr/lib/postgresql/N/bin``), or None."""
    candidates = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if (Path(p) / "postgres").exists()]
    if not candidates:
        found = shutil.which("postgres")
        return Path(found).parent if found else None
    return max(candidates, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


def _run_as() -> pwd.struct_passwd | None:
    """The user the server runs as: ourselves unless root, then the ``postgres`` system user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


def unavailable_reason() -> str | None:
    """Why no private cluster can be started here, or None when one can."""
    if server_bin_dir() is None:
        return "PostgreSQL's server is not installed (Debian: apt-get install -y postgresql; .ci/run installs it)"
    if os.geteuid() == 0 and _run_as() is None:
        return "running as root and there is no 'postgres' user to run the PostgreSQL server as"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    """A running private cluster: its data dir, port, server process and SQLAlchemy URL."""

    data_dir: Path
    port: int
    process: subprocess.Popen
    log_file: Path

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg2://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then SIGKILL of the group if it outlives 20 s."""
        for sig, grace in ((signal.SIGINT, 20.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                continue


def _as_user(user: pwd.struct_passwd | None) -> dict:
    return {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def start_cluster(base_dir: Path, timeout: float = 60.0, port: int | None = None) -> Cluster:
    """``initdb`` a cluster under ``base_dir`` (unless done), start it on ``port`` (default: a free one) of
    127.0.0.1, create the ``airflow`` database (unless it exists)."""
    bin_dir = server_bin_dir()
    assert bin_dir is not None, unavailable_reason()
    user = _run_as()
    base_dir.mkdir(parents=True, exist_ok=True)
    data_dir, socket_dir = base_dir / "data", base_dir / "socket"
    socket_dir.mkdir(exist_ok=True)
    if user is not None:
        # the server user must reach base_dir: let it traverse (not list) the temp dir base_dir is in
        parent = base_dir.parent
        parent.chmod(parent.stat().st_mode | 0o711)
        for path in (base_dir, socket_dir):
            os.chown(path, user.pw_uid, user.pw_gid)
    log_file = base_dir / "postgres.log"
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    if not (data_dir / "PG_VERSION").exists():
        initdb = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", ROLE, "--auth=trust", "-E", "UTF8", "--no-sync"],
            capture_output=True, text=True, env=env, cwd=base_dir, timeout=timeout, **_as_user(user),
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb of {data_dir} failed ({initdb.returncode}): {initdb.stderr.strip()}")
    port = port or free_port()
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            [
                str(bin_dir / "postgres"), "-D", str(data_dir), "-p", str(port), "-h", "127.0.0.1",
                "-k", str(socket_dir), "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "max_connections=300",
            ],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=base_dir, start_new_session=True, **_as_user(user),
        )
    cluster = Cluster(data_dir=data_dir, port=port, process=process, log_file=log_file)
    deadline = time.monotonic() + timeout
    while True:
        created = subprocess.run(
            [str(bin_dir.parent / "bin" / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", ROLE, DATABASE],
            capture_output=True, text=True, env=env,
        ) if (bin_dir / "createdb").exists() else None
        if created is not None and (created.returncode == 0 or "already exists" in created.stderr):
            return cluster
        if process.poll() is not None or time.monotonic() > deadline:
            cluster.stop()
            detail = created.stderr.strip() if created is not None else "no createdb"
            raise RuntimeError(f"PostgreSQL on port {port} did not come up within {timeout:.0f}s: {detail}; see {log_file}")
        time.sleep(0.3)
