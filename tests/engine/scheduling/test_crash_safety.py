"""Nothing of a job outlives its attempt or a killed engine.

- A container's background children die with the container (its process group); a double-forked
  daemon (``setsid``) too where the engine has cgroups (cgroup v2, ``cgroup.kill``).
- The process journal under the state dir: what a killed engine left running is killed by the next
  engine on that dir, a pid that now belongs to another process is never signalled.

The real ``kill -9`` of a served engine is in tests/reliability/test_restart.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from batch_eks_provider.local.runtime.containment import find_cgroup_root
from batch_eks_provider.local.runtime.process_registry import (
    REGISTRY_FILE,
    ProcessRegistry,
    RecordedProcess,
    process_start_time,
    reap_previous_run,
)
from tests.support.waits import wait_for
from tests.support.processes import kill_on_exit, live_processes, wait_gone

HAS_CGROUPS = find_cgroup_root() is not None


@pytest.mark.parametrize(
    ("script", "left"),
    [
        pytest.param("sleep 6101 & echo started", ["sleep", "6101"], id="a-background-child"),
        pytest.param(
            "(setsid sleep 6102 &) ; echo started",
            ["sleep", "6102"],
            id="a-double-forked-daemon",
            marks=pytest.mark.skipif(
                not HAS_CGROUPS, reason="no writable cgroup v2 hierarchy: setsid daemons escape the process group"
            ),
        ),
    ],
)
def test_what_a_container_leaves_running_dies_with_it(env, script, left):
    env.definition("leaves", ["sh", "-c", script])
    with kill_on_exit(left):
        assert env.wait(env.submit("q", "leaves"))["status"] == "SUCCEEDED"
        wait_gone(left, what=f"{' '.join(left)} to be gone with its container")
        if HAS_CGROUPS:
            root = env.engine.scheduler.runtime.cgroups.path
            wait_for(lambda: not [p for p in root.iterdir() if p.name.startswith(f"{os.getpid()}-")], timeout=5,
                     what="the container's cgroup to be removed")


@pytest.mark.skipif(not HAS_CGROUPS, reason="no writable cgroup v2 hierarchy")
def test_a_terminated_jobs_daemon_dies_too(env):
    daemon, foreground = ["sleep", "6103"], ["sleep", "6104"]
    env.definition("daemon-forever", ["sh", "-c", "(setsid sleep 6103 &) ; echo started; sleep 6104"])
    with kill_on_exit(daemon, foreground):
        job_id = env.submit("q", "daemon-forever")
        env.wait_for_output(job_id, "started")
        assert live_processes(daemon)
        env.batch.terminate_job(jobId=job_id, reason="stop")
        assert env.wait(job_id)["status"] == "FAILED"
        wait_gone(daemon, foreground, what="the job's processes to be gone")


@contextlib.contextmanager
def _session_leader(argv: list[str]) -> Iterator[subprocess.Popen]:
    """``argv`` in a session of its own, as the engine starts a container's leader; killed and reaped at the end."""
    process = subprocess.Popen(argv, start_new_session=True)
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=5)


def _journal(state_dir: Path, pid: int, start_time: int | None, *, ended: bool = False) -> None:
    """The journal a killed engine leaves on ``state_dir``: ``pid`` started as a container's leader (its own
    process group, no cgroup) with this start time, and, when ``ended``, its end."""
    registry = ProcessRegistry(state_dir / REGISTRY_FILE)
    registry.started(RecordedProcess("pod-a", "main", pid, start_time, pid, None))
    if ended:
        registry.ended(pid, start_time)
    registry.close()


def test_restart_kills_what_the_journal_records_and_empties_it(tmp_path, monkeypatch):
    real_killpg, groups_killed = os.killpg, []
    monkeypatch.setattr(os, "killpg", lambda pgid, sig: groups_killed.append((pgid, sig)) or real_killpg(pgid, sig))
    background, foreground = ["sleep", "6201"], ["sleep", "6202"]
    with _session_leader(["sh", "-c", "sleep 6201 & sleep 6202"]) as leader, kill_on_exit(background, foreground):
        wait_for(lambda: live_processes(background) and live_processes(foreground), timeout=5, what="the tree to start")
        _journal(tmp_path, leader.pid, process_start_time(leader.pid))

        signalled, left = reap_previous_run(tmp_path, timeout=5)

        assert (signalled, left) == (3, 0)  # sh, its background sleep, its foreground sleep
        assert not live_processes(background) and not live_processes(foreground)
        # The reaper kills each recorded group at once (killpg), so sh dies by the signal: it never lives to see its
        # foreground sleep die first and exit 137 itself (which killing member by member allowed, 32 times in 200).
        assert leader.wait(timeout=5) == -signal.SIGKILL
        assert (leader.pid, signal.SIGKILL) in groups_killed  # the whole group at once, not member by member
        assert (tmp_path / REGISTRY_FILE).read_text() == ""


def test_a_reused_pid_is_never_signalled(tmp_path):
    """The journal names a pid whose start time differs: that pid is another process now; it is left alone."""
    with _session_leader([sys.executable, "-c", "import time; time.sleep(60)"]) as bystander:
        _journal(tmp_path, bystander.pid, process_start_time(bystander.pid) - 1)
        assert reap_previous_run(tmp_path, timeout=1) == (0, 0)
        assert bystander.poll() is None


def test_an_ended_container_is_not_reaped(tmp_path):
    """A container the journal records as ended is not looked for on restart."""
    with _session_leader(["sleep", "6301"]) as bystander:
        _journal(tmp_path, bystander.pid, process_start_time(bystander.pid), ended=True)
        assert reap_previous_run(tmp_path, timeout=1) == (0, 0)
        assert bystander.poll() is None


def test_a_running_engine_journals_its_containers(make_env, tmp_path):
    e = make_env(state_dir=tmp_path / "state")
    e.ce("ce")
    e.queue("q", ["ce"])
    e.definition("hold", ["sh", "-c", "echo started; sleep 6401"])
    with kill_on_exit(["sleep", "6401"]):
        job_id = e.submit("q", "hold")
        e.wait_for_output(job_id, "started")
        journal = (tmp_path / "state" / REGISTRY_FILE).read_text()
        (leader,) = live_processes(["sh", "-c", "echo started; sleep 6401"])
        assert f'"pid":{leader}' in journal and f'"start_time":{process_start_time(leader)}' in journal
        assert ('"cgroup":"' in journal) == HAS_CGROUPS
        e.batch.terminate_job(jobId=job_id, reason="stop")
        e.wait(job_id)
        wait_for(lambda: '"op":"end"' in (tmp_path / "state" / REGISTRY_FILE).read_text(), timeout=5,
                 what="the container's end in the journal")


_PARENT = """
import os, subprocess, sys, time
from batch_eks_provider.local.runtime import containment
if sys.argv[1] == "python":
    containment._SETPRIV = None
leader = subprocess.Popen(containment.wrap_argv(["sleep", sys.argv[2]], {"PATH": os.environ["PATH"]}, "/", None),
                          start_new_session=True)
print(leader.pid, flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("wrapper", ["setpriv", "python"])
def test_a_leader_dies_with_the_engine_that_started_it(wrapper):
    if wrapper == "setpriv" and containment_setpriv() is None:
        pytest.skip("no setpriv on this machine")
    tag = "6501" if wrapper == "setpriv" else "6502"
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, wrapper, tag], stdout=subprocess.PIPE)
    with kill_on_exit(["sleep", tag]):
        try:
            leader = int(parent.stdout.readline())
            wait_for(lambda: live_processes(["sleep", tag]) == [leader], timeout=10, what="the leader to run")
            parent.kill()
            parent.wait()
            wait_gone(["sleep", tag], what="the leader to die with its parent")
        finally:
            parent.kill()


@pytest.mark.skipif(not HAS_CGROUPS, reason="no writable cgroup v2 hierarchy")
@pytest.mark.parametrize("wrapper", ["setpriv", "python"])
def test_a_leader_starts_in_its_cgroup(wrapper, monkeypatch):
    from batch_eks_provider.local.runtime import containment

    if wrapper == "python":
        monkeypatch.setattr(containment, "_SETPRIV", None)
    cgroup = find_cgroup_root().new_cgroup()
    try:
        argv = containment.wrap_argv(["cat", "/proc/self/cgroup"], {"PATH": os.environ["PATH"]}, "/", cgroup)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
        assert f"0::/{cgroup.relative_to(_mount_of(cgroup))}" in out.splitlines(), out
    finally:
        cgroup.rmdir()


def test_a_missing_program_fails_before_any_process_starts():
    from batch_eks_provider.local.runtime.containment import wrap_argv

    with pytest.raises(FileNotFoundError, match="no-such-program-here"):
        wrap_argv(["no-such-program-here"], {"PATH": "/usr/bin:/bin"}, "/", None)


def containment_setpriv():
    from batch_eks_provider.local.runtime import containment

    return containment._SETPRIV


def _mount_of(cgroup):
    from batch_eks_provider.local.runtime.containment import _cgroup2_mount

    return _cgroup2_mount()


@pytest.mark.skipif(not HAS_CGROUPS, reason="no writable cgroup v2 hierarchy")
def test_a_dead_engines_cgroups_are_killed_by_the_next_engine():
    """An engine without a state dir has no journal: its cgroups (named by its pid) are swept instead."""
    from batch_eks_provider.local.runtime import containment

    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid no process has now: the "engine" that made the cgroup below is gone
    cgroup = find_cgroup_root().path / f"{dead.pid}-1"
    cgroup.mkdir()
    orphan = subprocess.Popen(containment.wrap_argv(["sleep", "6601"], {"PATH": os.environ["PATH"]}, "/", cgroup))
    try:
        wait_for(lambda: str(orphan.pid) in (cgroup / "cgroup.procs").read_text().split(), timeout=5, what="the orphan")
        find_cgroup_root()
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        wait_for(lambda: containment.remove_cgroup(cgroup), timeout=5, what="the cgroup to go")
    finally:
        orphan.kill()
        containment.remove_cgroup(cgroup)
