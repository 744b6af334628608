"""Keep a container's processes inside the engine's reach.

- Every container's leader gets ``PR_SET_PDEATHSIG`` = SIGKILL: the kernel kills it when the engine's
  thread that started it dies (the engine killed with ``kill -9``, or crashing).
- Where a cgroup v2 hierarchy is writable, each container runs in its own cgroup under
  ``<cgroup2 mount>/batch-eks-local/<engine pid>-<n>``; when the container ends (or is stopped) the engine
  writes ``1`` to its ``cgroup.kill``, which ends every process in it, double-forked daemons
  (``setsid``) included. Elsewhere only the process group is killed (``setsid`` daemons escape it).

Both are set up in the child between fork and exec (``preexec_fn``), so a process is in its cgroup before
it can fork.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import itertools
import os
import signal
from pathlib import Path
from typing import Callable

__all__ = ["CgroupRoot", "find_cgroup_root", "child_setup", "kill_cgroup", "remove_cgroup", "PDEATHSIG_AVAILABLE"]

_PR_SET_PDEATHSIG = 1
_CGROUP_DIR_NAME = "batch-eks-local"

try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _prctl = _libc.prctl
    PDEATHSIG_AVAILABLE = True
except (OSError, AttributeError):  # not Linux / no glibc
    _prctl = None
    PDEATHSIG_AVAILABLE = False


def _cgroup2_mount() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (``/sys/fs/cgroup`` or, on hybrid systems,
    ``/sys/fs/cgroup/unified``), from /proc/self/mountinfo."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    return Path(left.split()[4])
    except OSError:
        return None
    return None


class CgroupRoot:
    """The engine's cgroup directory; one child cgroup per container."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seq = itertools.count(1)

    def new_cgroup(self) -> Path | None:
        """Make a container's cgroup; None when it cannot be made (then only the process group is used)."""
        path = self.path / f"{os.getpid()}-{next(self._seq)}"
        try:
            path.mkdir()
        except OSError:
            return None
        return path


def find_cgroup_root() -> CgroupRoot | None:
    """The engine's cgroup directory when this machine lets the engine make cgroups with ``cgroup.kill``
    (cgroup v2, kernel >= 5.14, a writable hierarchy: root, or a delegated subtree); None otherwise."""
    mount = _cgroup2_mount()
    if mount is None:
        return None
    try:
        own = Path(open("/proc/self/cgroup").read().split("0::", 1)[1].split("\n", 1)[0].lstrip("/"))
    except (OSError, IndexError):
        own = Path("")
    for base in (mount / own, mount):  # the engine's own cgroup first (a delegated subtree), then the root
        root = base / _CGROUP_DIR_NAME
        try:
            root.mkdir(exist_ok=True)
            probe = root / f"probe-{os.getpid()}"
            probe.mkdir()
            ok = (probe / "cgroup.kill").exists() and os.access(probe / "cgroup.procs", os.W_OK)
            probe.rmdir()
        except OSError:
            continue
        if ok:
            return CgroupRoot(root)
    return None


def child_setup(cgroup: Path | None) -> Callable[[], None]:
    """The ``preexec_fn`` of a container's leader: die with the engine, then join the cgroup."""
    procs = str(cgroup / "cgroup.procs") if cgroup is not None else None

    def setup() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() == 1:  # the engine died between fork and prctl
                os._exit(137)
        if procs is not None:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    return setup


def kill_cgroup(cgroup: Path | str | None) -> None:
    """SIGKILL every process in the cgroup (daemons that left the process group included)."""
    if cgroup is None:
        return
    with contextlib.suppress(OSError):
        Path(cgroup, "cgroup.kill").write_text("1")


def cgroup_pids(cgroup: Path | str) -> list[int]:
    try:
        return [int(p) for p in Path(cgroup, "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def remove_cgroup(cgroup: Path | str | None) -> bool:
    """Remove an empty cgroup; False while processes are still in it (they are dying)."""
    if cgroup is None:
        return True
    try:
        os.rmdir(cgroup)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False
