"""Find processes as a person would with ``ps``: by their exact command line, in ``/proc``; end what a test
leaves running; read a wait status as Kubernetes reports a container's exit code."""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Iterator

from tests.support.waits import wait_for

__all__ = ["alive", "kill_all", "kill_on_exit", "live_processes", "process_group", "wait_gone"]


def _stat(pid: int | str) -> list[bytes] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (0: state, 2: process group); None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in (b"Z", b"X")


def process_group(pid: int) -> int:
    """The process group of a live process."""
    fields = _stat(pid)
    assert fields is not None, f"no process {pid}"
    return int(fields[2])


def live_processes(argv: list[str]) -> list[int]:
    """Live (not zombie) processes whose argv is exactly ``argv``."""
    wanted = "\0".join(argv).encode() + b"\0"
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if f.read() != wanted:
                    continue
        except OSError:
            continue
        if alive(int(name)):
            found.append(int(name))
    return found


def wait_gone(*argvs: list[str], timeout: float = 5.0, what: str = "the processes to be gone") -> None:
    """Wait until no live process has one of these argvs."""
    wait_for(lambda: not any(live_processes(argv) for argv in argvs), timeout=timeout, what=what)


def kill_all(*argvs: list[str]) -> None:
    """SIGKILL every live process whose argv is one of ``argvs``."""
    for argv in argvs:
        for pid in live_processes(argv):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def kill_on_exit(*argvs: list[str]) -> Iterator[None]:
    """Run the block, then SIGKILL whatever still runs with one of these argvs: a failing test leaves nothing."""
    try:
        yield
    finally:
        kill_all(*argvs)
