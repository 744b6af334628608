"""A child process watched by the event loop itself: output through a non-blocking pipe, exit through a
Linux pidfd. No thread per child (asyncio's default child watcher starts one per process) and the same
code on asyncio's loop and on uvloop (whose own subprocess support forks instead of vforking, which is
several times slower for a large parent process).

Backpressure: while the engine's log writer is behind (:func:`~..store.logs.output_backpressure` of the
loop), a reader stops reading its pipe after the chunk in hand, so the container blocks on its full pipe
instead of the engine holding its output in memory or the loop waiting on the disk; reading resumes when
the writer has caught up. Every line is kept.

Falls back to ``asyncio.create_subprocess_exec`` where ``os.pidfd_open`` is missing (not Linux >= 5.3).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import subprocess
from concurrent.futures import Executor
from pathlib import Path
from typing import Callable

from ..store.logs import output_backpressure
from .containment import kill_cgroup, wrap_argv

__all__ = ["LocalProcess", "spawn", "PIDFD_AVAILABLE", "kill_process_group"]

PIDFD_AVAILABLE = hasattr(os, "pidfd_open")
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_PIPE_BYTES = 1 << 20  # pipe size asked for, and the most read at once
_MAX_PARTIAL_BYTES = 4 << 20  # a line without a newline is handed on in pieces of this size
_OUTPUT_IDLE_SECONDS = 2.0  # after the exit, a pipe held open (a daemonized grandchild) is read this long


def _pidfd_works() -> bool:
    if not PIDFD_AVAILABLE:
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
        return True
    except OSError:
        return False


_USE_PIDFD = _pidfd_works()


def kill_process_group(pgid: int) -> None:
    """SIGKILL every process left in a container's process group (its session leader has exited).

    On Kubernetes every process of a container dies with it; here a background child (``sleep 300 &``)
    would otherwise outlive the container, the pod and the engine.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _text(raw: bytes) -> str:
    """One or more lines as read (joined by ``\n``, no trailing newline) as text, without carriage returns."""
    text = raw.decode("utf-8", "replace")
    if "\r" in text:
        text = "\n".join(line.rstrip("\r") for line in text.split("\n"))
    return text


class LocalProcess:
    """A running child: ``pid``, ``returncode`` (None while it runs; negative = killed by that signal)."""

    def __init__(self, popen: subprocess.Popen, on_line: Callable[[str], None], loop: asyncio.AbstractEventLoop) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.cgroup: Path | None = None
        self.returncode: int | None = None
        self._on_line = on_line
        self._loop = loop
        self._partial = b""
        self._output_done = loop.create_future()
        self._exited = loop.create_future()
        assert popen.stdout is not None
        self._out_fd = popen.stdout.fileno()
        os.set_blocking(self._out_fd, False)
        with contextlib.suppress(OSError):  # a larger pipe: fewer wake-ups of the loop for a chatty child
            fcntl.fcntl(self._out_fd, _F_SETPIPE_SZ, _PIPE_BYTES)
        self._backpressure = output_backpressure(loop)
        self._paused = False
        self._last_output = loop.time()
        loop.add_reader(self._out_fd, self._read)
        self._pidfd = os.pidfd_open(self.pid)
        loop.add_reader(self._pidfd, self._reap)

    def _read(self) -> None:
        try:
            data = os.read(self._out_fd, _PIPE_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._loop.remove_reader(self._out_fd)
            self._popen.stdout.close()
            if self._partial:
                self._emit(self._partial)
                self._partial = b""
            if not self._output_done.done():
                self._output_done.set_result(None)
            return
        data = self._partial + data if self._partial else data
        end = data.rfind(b"\n")
        if end < 0:
            self._partial = data
            if len(data) >= _MAX_PARTIAL_BYTES:  # one endless line: hand it on in pieces, memory stays bounded
                self._emit(data)
                self._partial = b""
            return
        self._partial = data[end + 1 :]
        self._emit(data[:end])  # every complete line of the chunk at once: one call, not one per line
        self._last_output = self._loop.time()
        if self._backpressure.behind and not self._output_done.done():  # the log writer is behind: wait
            self._loop.remove_reader(self._out_fd)
            self._paused = True
            self._backpressure.when_released(self._resume)

    def _resume(self) -> None:
        if self._paused and not self._output_done.done():
            self._paused = False
            self._last_output = self._loop.time()
            self._loop.add_reader(self._out_fd, self._read)

    def _emit(self, raw: bytes) -> None:
        self._on_line(_text(raw))

    def _reap(self) -> None:
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        # The leader is a zombie until waitpid below, so its pid (the group id) cannot be reused yet.
        kill_process_group(self.pid)
        kill_cgroup(self.cgroup)
        try:
            _, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:  # reaped elsewhere: the exit status is lost
            code = 255
        self.returncode = code
        self._popen.returncode = code  # so that Popen never polls (and reaps) this pid again
        if not self._exited.done():
            self._exited.set_result(code)

    async def wait(self) -> int:
        """Wait for the exit and for the end of the output: all of it, however long the reader was paused
        by backpressure, but no more than :data:`_OUTPUT_IDLE_SECONDS` of a pipe that stays open with
        nothing in it (a daemonized grandchild holds it)."""
        code = await self._exited
        while not self._output_done.done():
            idle = self._loop.time() - self._last_output
            if not self._paused and idle >= _OUTPUT_IDLE_SECONDS:
                self._loop.remove_reader(self._out_fd)
                self._popen.stdout.close()
                self._output_done.set_result(None)
                break
            timeout = _OUTPUT_IDLE_SECONDS if self._paused else max(0.05, _OUTPUT_IDLE_SECONDS - idle)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._output_done), timeout=timeout)
        return code


class _AsyncioProcess:
    """The same interface over ``asyncio.subprocess`` (systems without pidfd): the output is read while the
    process runs, in chunks, with the same backpressure; after the exit, as long as it keeps coming."""

    def __init__(self, proc: asyncio.subprocess.Process, on_line: Callable[[str], None]) -> None:
        self._proc = proc
        self.pid = proc.pid
        self.cgroup: Path | None = None
        self._on_line = on_line
        self._loop = asyncio.get_running_loop()
        self._backpressure = output_backpressure(self._loop)
        self._paused = False
        self._last_output = self._loop.time()
        self._reading = self._loop.create_task(self._read_all(), name=f"output of {proc.pid}")

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def _read_all(self) -> None:
        assert self._proc.stdout is not None
        partial = b""
        while data := await self._proc.stdout.read(_PIPE_BYTES):
            self._last_output = self._loop.time()
            data = partial + data if partial else data
            end = data.rfind(b"\n")
            if end < 0:
                partial = data
                if len(data) >= _MAX_PARTIAL_BYTES:
                    self._emit(data)
                    partial = b""
                continue
            partial = data[end + 1 :]
            self._emit(data[:end])
            if self._backpressure.behind:
                resumed = self._loop.create_future()
                self._paused = True
                self._backpressure.when_released(lambda: resumed.done() or resumed.set_result(None))
                await resumed
                self._paused = False
                self._last_output = self._loop.time()
        if partial:
            self._emit(partial)

    def _emit(self, raw: bytes) -> None:
        self._on_line(_text(raw))

    async def wait(self) -> int:
        code = await self._proc.wait()
        kill_process_group(self.pid)  # no pidfd: the group is killed after the reap (small pid-reuse window)
        kill_cgroup(self.cgroup)
        while not self._reading.done():
            idle = self._loop.time() - self._last_output
            if not self._paused and idle >= _OUTPUT_IDLE_SECONDS:  # a daemonized grandchild holds the pipe
                self._reading.cancel()
                break
            timeout = _OUTPUT_IDLE_SECONDS if self._paused else max(0.05, _OUTPUT_IDLE_SECONDS - idle)
            await asyncio.wait({self._reading}, timeout=timeout)
        with contextlib.suppress(asyncio.CancelledError):
            await self._reading
        return code


async def spawn(
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    on_line: Callable[[str], None],
    executor: Executor | None = None,
    cgroup: Path | None = None,
):
    """Start ``argv`` in a new session with stdin from /dev/null and stdout+stderr to ``on_line`` (called with
    the complete lines of each read, joined by ``\n``: one call per chunk, not per line); the
    leader dies with the engine (``PR_SET_PDEATHSIG``) and runs in ``cgroup`` when one is given (see
    :mod:`.containment`).

    With an ``executor``, the fork/exec runs on one of its threads: ``fork_exec`` releases the GIL while the
    child starts, so a few threads start processes several times faster than the event loop alone, and the
    loop keeps serving the API meanwhile.
    """
    argv = wrap_argv(argv, env, cwd, cgroup)
    if not _USE_PIDFD:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        wrapped = _AsyncioProcess(proc, on_line)
        wrapped.cgroup = cgroup
        return wrapped
    def start() -> subprocess.Popen:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )

    loop = asyncio.get_running_loop()
    popen = await loop.run_in_executor(executor, start) if executor is not None else start()
    proc = LocalProcess(popen, on_line, loop)
    proc.cgroup = cgroup
    return proc
