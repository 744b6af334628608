"""A child process watched by the event loop itself: output through two non-blocking pipes (stdout and
stderr, kept apart as a container runtime keeps them), exit through a Linux pidfd. No thread per child
(asyncio's default child watcher starts one per process) and the same code on asyncio's loop and on uvloop
(whose own subprocess support forks instead of vforking, which is several times slower for a large parent
process).

Each read's complete lines are handed on at once, with the stream they came from (``stdout``, ``stderr``). The two
pipes are read as the loop finds them readable, so lines come in the order they were read: each stream's
in the order written, and a line of one stream written while the other's last write is still unread may
come before it (containerd and dockerd read the two pipes of a container separately too).

Backpressure: while the engine's log writer is behind (:func:`~..store.logs.output_backpressure` of the
loop), the reader of each pipe stops reading it after the chunk in hand, so the container blocks on its
full pipe instead of the engine holding its output in memory or the loop waiting on the disk; reading
resumes when the writer has caught up. Every line is kept.

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
_PIPE_BYTES = 1 << 20  # stdout's pipe size asked for, and the most read at once from either pipe
_MAX_PARTIAL_BYTES = 4 << 20  # a line without a newline is handed on in pieces of this size
_OUTPUT_IDLE_SECONDS = 2.0  # after the exit, pipes held open (a daemonized grandchild) are read this long


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


LineCallback = Callable[[str, str], None]
"""``on_line(lines, stream)``: one or more lines as read (joined by ``\n``) and ``stdout`` or ``stderr``."""


def _text(raw: bytes) -> str:
    """One or more lines as read (joined by ``\n``, no trailing newline) as text, without carriage returns."""
    text = raw.decode("utf-8", "replace")
    if "\r" in text:
        text = "\n".join(line.rstrip("\r") for line in text.split("\n"))
    return text


def _emitter(on_line: LineCallback, source: str) -> Callable[[bytes], None]:
    """What hands one pipe's lines (raw, as :class:`_Lines` gives them) to ``on_line`` with their stream."""
    return lambda raw: on_line(_text(raw), source)


class _Lines:
    """One pipe's bytes cut into lines: the complete lines a read ends, the rest kept for the next read."""

    __slots__ = ("partial",)

    def __init__(self) -> None:
        self.partial = b""

    def take(self, data: bytes) -> bytes | None:
        """The complete lines (joined by ``\n``, without the last newline) that ``data`` completes, or
        None; a line without a newline is handed on in pieces of :data:`_MAX_PARTIAL_BYTES` (memory stays
        bounded)."""
        data = self.partial + data if self.partial else data
        end = data.rfind(b"\n")
        if end < 0:
            if len(data) >= _MAX_PARTIAL_BYTES:
                self.partial = b""
                return data
            self.partial = data
            return None
        self.partial = data[end + 1 :]
        return data[:end]  # every complete line of the chunk at once: one call, not one per line

    def rest(self) -> bytes | None:
        """What is left without a newline (the pipe has ended), or None."""
        rest, self.partial = self.partial, b""
        return rest or None


class _Pipe:
    """One output pipe of a child (its stdout or its stderr), read on the loop."""

    __slots__ = ("file", "fd", "emit", "lines", "paused", "open")

    def __init__(self, file, emit: Callable[[bytes], None], pipe_bytes: int | None) -> None:
        self.file = file
        self.fd = file.fileno()
        self.emit = emit
        self.lines = _Lines()
        self.paused = False
        self.open = True
        os.set_blocking(self.fd, False)
        if pipe_bytes:
            with contextlib.suppress(OSError):  # a larger pipe: fewer wake-ups of the loop for a chatty child
                fcntl.fcntl(self.fd, _F_SETPIPE_SZ, pipe_bytes)


class LocalProcess:
    """A running child: ``pid``, ``returncode`` (None while it runs; negative = killed by that signal)."""

    def __init__(self, popen: subprocess.Popen, on_line: LineCallback, loop: asyncio.AbstractEventLoop) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.cgroup: Path | None = None
        self.returncode: int | None = None
        self._loop = loop
        self._output_done = loop.create_future()
        self._exited = loop.create_future()
        assert popen.stdout is not None and popen.stderr is not None
        # stdout's pipe is enlarged, stderr's keeps the default (64 KiB): an unprivileged user's pipes
        # share a budget of pipe pages (fs.pipe-user-pages-soft), and a chatty job is chatty on stdout
        self._pipes = (
            _Pipe(popen.stdout, _emitter(on_line, "stdout"), _PIPE_BYTES),
            _Pipe(popen.stderr, _emitter(on_line, "stderr"), None),
        )
        self._backpressure = output_backpressure(loop)
        self._last_output = loop.time()
        for pipe in self._pipes:
            loop.add_reader(pipe.fd, self._read, pipe)
        self._pidfd = os.pidfd_open(self.pid)
        loop.add_reader(self._pidfd, self._reap)

    def _read(self, pipe: _Pipe) -> None:
        try:
            data = os.read(pipe.fd, _PIPE_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(pipe)
            return
        self._last_output = self._loop.time()
        lines = pipe.lines.take(data)
        if lines is None:
            return
        pipe.emit(lines)
        if self._backpressure.behind:  # the log writer is behind: wait
            self._loop.remove_reader(pipe.fd)
            pipe.paused = True
            self._backpressure.when_released(lambda: self._resume(pipe))

    def _resume(self, pipe: _Pipe) -> None:
        if pipe.paused and pipe.open:
            pipe.paused = False
            self._last_output = self._loop.time()
            self._loop.add_reader(pipe.fd, self._read, pipe)

    def _close(self, pipe: _Pipe) -> None:
        """The pipe has ended (or is given up on): hand on what is left of its last line."""
        if not pipe.open:
            return
        self._loop.remove_reader(pipe.fd)
        pipe.file.close()
        pipe.open = pipe.paused = False
        rest = pipe.lines.rest()
        if rest is not None:
            pipe.emit(rest)
        if not any(p.open for p in self._pipes) and not self._output_done.done():
            self._output_done.set_result(None)

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
        """Wait for the exit and for the end of the output: all of it, however long a reader was paused
        by backpressure, but no more than :data:`_OUTPUT_IDLE_SECONDS` of pipes that stay open with
        nothing in them (a daemonized grandchild holds them)."""
        code = await self._exited
        while not self._output_done.done():
            idle = self._loop.time() - self._last_output
            paused = any(p.paused for p in self._pipes)
            if not paused and idle >= _OUTPUT_IDLE_SECONDS:
                for pipe in self._pipes:
                    self._close(pipe)
                break
            timeout = _OUTPUT_IDLE_SECONDS if paused else max(0.05, _OUTPUT_IDLE_SECONDS - idle)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._output_done), timeout=timeout)
        return code


class _AsyncioProcess:
    """The same interface over ``asyncio.subprocess`` (systems without pidfd): each pipe is read while the
    process runs, in chunks, with the same backpressure; after the exit, as long as it keeps coming."""

    def __init__(self, proc: asyncio.subprocess.Process, on_line: LineCallback) -> None:
        self._proc = proc
        self.pid = proc.pid
        self.cgroup: Path | None = None
        self._loop = asyncio.get_running_loop()
        self._backpressure = output_backpressure(self._loop)
        self._paused = 0  # readers waiting for the log writer
        self._last_output = self._loop.time()
        assert proc.stdout is not None and proc.stderr is not None
        self._readers = [
            self._loop.create_task(
                self._read_all(reader, _emitter(on_line, name)), name=f"{name} of {proc.pid}"
            )
            for reader, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))
        ]

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def _read_all(self, pipe: asyncio.StreamReader, emit: Callable[[bytes], None]) -> None:
        lines = _Lines()
        try:
            while data := await pipe.read(_PIPE_BYTES):
                self._last_output = self._loop.time()
                complete = lines.take(data)
                if complete is None:
                    continue
                emit(complete)
                if self._backpressure.behind:
                    resumed = self._loop.create_future()
                    self._paused += 1
                    self._backpressure.when_released(lambda: resumed.done() or resumed.set_result(None))
                    try:
                        await resumed
                    finally:
                        self._paused -= 1
                    self._last_output = self._loop.time()
        finally:  # the end of the pipe, or given up on after the exit: what is left of the last line
            rest = lines.rest()
            if rest is not None:
                emit(rest)

    async def wait(self) -> int:
        code = await self._proc.wait()
        kill_process_group(self.pid)  # no pidfd: the group is killed after the reap (small pid-reuse window)
        kill_cgroup(self.cgroup)
        while reading := [r for r in self._readers if not r.done()]:
            idle = self._loop.time() - self._last_output
            if not self._paused and idle >= _OUTPUT_IDLE_SECONDS:  # a daemonized grandchild holds the pipes
                for reader in reading:
                    reader.cancel()
                break
            timeout = _OUTPUT_IDLE_SECONDS if self._paused else max(0.05, _OUTPUT_IDLE_SECONDS - idle)
            await asyncio.wait(reading, timeout=timeout)
        for reader in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        return code


async def spawn(
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    on_line: LineCallback,
    executor: Executor | None = None,
    cgroup: Path | None = None,
):
    """Start ``argv`` in a new session with stdin from /dev/null, and stdout and stderr to ``on_line``: called
    with the complete lines of each read of either pipe, joined by ``\n`` (one call per chunk, not per
    line) with their stream, ``stdout`` or ``stderr``. The leader dies with the engine
    (``PR_SET_PDEATHSIG``) and runs in ``cgroup`` when one is given (see :mod:`.containment`).

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
            stderr=asyncio.subprocess.PIPE,
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
            stderr=subprocess.PIPE,
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
