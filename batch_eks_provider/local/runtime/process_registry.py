"""What the engine started, written down so that the next engine on the same state dir can end it.

``<state dir>/processes.jsonl`` is an append-only journal: one ``start`` line per container leader (pid,
its start time from ``/proc/<pid>/stat``, process group, cgroup) and one ``end`` line once the container's
processes are gone. Each line is one ``write(2)`` on an ``O_APPEND`` descriptor, so it survives the
engine being killed right after (not a machine crash: nothing is fsynced).

On start-up :func:`reap_previous_run` kills what the journal says may still run: the cgroup (when there
was one), and every process of the recorded process group, checking start times so that a pid the
system gave to another process since is never signalled. It waits (bounded) until they are gone, then
empties the journal. Only then does the scheduler mark the attempts lost.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from .containment import cgroup_pids, kill_cgroup, remove_cgroup

__all__ = ["ProcessRegistry", "RecordedProcess", "reap_previous_run", "process_start_time", "REGISTRY_FILE"]

REGISTRY_FILE = "processes.jsonl"


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 = state, 2 = pgid, 19 = starttime)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].decode().split()


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; None when there is no such process."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def _alive(pid: int, start_time: int | None) -> bool:
    """The same process (same start time) still exists and is not a zombie."""
    fields = _stat_fields(pid)
    if not fields or fields[0] in ("Z", "X"):
        return False
    return start_time is None or int(fields[19]) == start_time


@dataclass(frozen=True)
class RecordedProcess:
    pod_name: str
    container: str
    pid: int
    start_time: int | None
    pgid: int
    cgroup: str | None


class ProcessRegistry:
    """The journal of one engine run (None path: nothing is recorded, e.g. an in-memory engine)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _write(self, entry: dict) -> None:
        if self._fd is not None:
            os.write(self._fd, (json.dumps(entry, separators=(",", ":")) + "\n").encode())

    def started(self, record: RecordedProcess) -> None:
        self._write({"op": "start", **record.__dict__})

    def ended(self, pid: int, start_time: int | None) -> None:
        self._write({"op": "end", "pid": pid, "start_time": start_time})

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read_open_entries(path: Path) -> list[RecordedProcess]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    running: dict[tuple[int, int | None], RecordedProcess] = {}
    for line in lines:
        try:
            entry = json.loads(line)
            key = (int(entry["pid"]), entry.get("start_time"))
            if entry["op"] == "start":
                running[key] = RecordedProcess(
                    entry["pod_name"], entry["container"], key[0], key[1], int(entry["pgid"]), entry.get("cgroup")
                )
            else:
                running.pop(key, None)
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by the crash
    return list(running.values())


def _group_members(pgids: dict[int, int | None]) -> list[tuple[int, int, int]]:
    """(pid, start time, group) of every live process in one of these process groups. A group whose leader pid
    now belongs to a newer process is skipped: the kernel frees a pid only once no process uses it as
    pid, group or session id, so the recorded group is gone and that number means someone else."""
    valid = {}
    for pgid, start in pgids.items():
        leader = _stat_fields(pgid)
        if leader is not None and start is not None and int(leader[19]) != start:
            continue
        valid[pgid] = start
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        if not fields or fields[0] in ("Z", "X"):
            continue
        pgid = int(fields[2])
        if pgid in valid and (valid[pgid] is None or int(fields[19]) >= valid[pgid]):
            members.append((int(name), int(fields[19]), pgid))
    return members


def reap_previous_run(state_dir: Path, timeout: float = 5.0) -> tuple[int, int]:
    """Kill the processes a previous engine on ``state_dir`` left running; wait until they are gone (at
    most ``timeout`` seconds); empty the journal. Returns (processes signalled, processes still alive
    when the wait ended)."""
    path = state_dir / REGISTRY_FILE
    entries = _read_open_entries(path)
    cgroups = [e.cgroup for e in entries if e.cgroup and os.path.isdir(e.cgroup)]
    members = _group_members({e.pgid: e.start_time for e in entries})
    groups = {pgid for _, _, pgid in members}
    victims = {(pid, start) for pid, start, _ in members}
    for cgroup in cgroups:
        victims.update((pid, process_start_time(pid)) for pid in cgroup_pids(cgroup))
        kill_cgroup(cgroup)
    # each whole group at once first, as the running engine stops a pod (a shell whose child died first would
    # otherwise report that death itself), then every member found one by one
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for pid, _ in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    signalled = len(victims)
    deadline = time.monotonic() + timeout
    while True:
        victims = {(pid, start) for pid, start in victims if _alive(pid, start)}
        cgroups = [c for c in cgroups if not remove_cgroup(c)]
        if (not victims and not cgroups) or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    if path.exists():
        path.write_text("")
    return signalled, len(victims)
