"""``batch-eks local serve`` as a user runs it: the engine in a process of its own, which a test can stop,
``kill -9`` and start again on the same state directory and port.

:func:`serve` starts one (the data-on-eks blueprint) and returns once it answers HTTP; :meth:`ServedEngine.stop`
ends it with SIGTERM (SIGKILL when it does not stop), :meth:`ServedEngine.kill` with SIGKILL, as when its
machine dies. Its stderr goes to a file (a pipe nobody reads could fill and stall it), quoted when it exits early.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Iterator

from tests.support.waits import wait_for

__all__ = ["ServedEngine", "batch_eks_command", "free_port", "serve", "serving"]


def batch_eks_command() -> list[str]:
    """The installed ``batch-eks`` script next to this Python, else ``python -m batch_eks_provider.cli``."""
    script = Path(sys.executable).with_name("batch-eks")
    return [str(script)] if script.exists() else [sys.executable, "-m", "batch_eks_provider.cli"]


def free_port() -> int:
    """A loopback port no one listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedEngine:
    """One ``batch-eks local serve --blueprint data-on-eks --state-dir <state_dir> --port <port> <options>``."""

    def __init__(self, state_dir: Path, port: int, *options: str, env: dict[str, str] | None = None) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.kubernetes_port: int | None = None
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [*batch_eks_command(), "local", "serve", "--state-dir", str(state_dir), "--port", str(port),
             "--blueprint", "data-on-eks", *options],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env={**os.environ, **(env or {})},
        )

    def stderr_tail(self, chars: int = 2000) -> str:
        """The start and the end of what the engine wrote to stderr (the first error is often at the start)."""
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")
        return text if len(text) <= 2 * chars else f"{text[:chars]}\n[...]\n{text[-chars:]}"

    def answers(self, path: str = "/") -> bool:
        """Whether ``path`` answers 200 now; fails naming the exit code and stderr once the engine has exited."""
        if self.process.poll() is not None:
            raise AssertionError(f"the engine exited with {self.process.returncode}: {self.stderr_tail()}")
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def wait_until_serving(self, path: str = "/", timeout: float = 60.0) -> ServedEngine:
        """Return once ``path`` answers. ``timeout`` only keeps a broken start-up from hanging; the 2 s start-up
        target is measured in benchmarks/engine.py ("serve start-up to /version"), not in tests."""
        wait_for(lambda: self.answers(path), timeout=timeout, interval=0.02, what=f"the engine to answer {path}")
        return self

    def kill(self) -> None:
        """SIGKILL, as when the engine's machine dies (no clean-up runs); returns once it is reaped."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait (SIGKILL after ``timeout`` seconds); nothing when it has exited already."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._stderr.close()


def serve(
    state_dir: Path,
    port: int,
    *options: str,
    env: dict[str, str] | None = None,
    ready_path: str = "/",
    kubernetes_port: int | None = None,
) -> ServedEngine:
    """A :class:`ServedEngine` that answers ``ready_path``, its Kubernetes API on ``kubernetes_port`` (default a
    free port: the command's own default, ``port + 1``, may be any process's ephemeral port by then). A restart on
    the same port passes the first engine's ``kubernetes_port`` too."""
    kubernetes_port = kubernetes_port or free_port()
    engine = ServedEngine(state_dir, port, "--kubernetes-port", str(kubernetes_port), *options, env=env)
    engine.kubernetes_port = kubernetes_port
    try:
        return engine.wait_until_serving(ready_path)
    except BaseException:
        engine.stop()
        raise


@contextlib.contextmanager
def serving(state_dir: Path, *options: str, env: dict[str, str] | None = None, ready_path: str = "/") -> Iterator[str]:
    """A served engine for the block, on a free port (its Kubernetes API on another); yields its URL, stops it at
    the end."""
    engine = serve(state_dir, free_port(), *options, env=env, ready_path=ready_path)
    try:
        yield engine.url
    finally:
        engine.stop()
