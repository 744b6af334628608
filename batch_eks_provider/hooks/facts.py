"""The slow-changing facts a submission checks (job queues, their compute environments, job definitions), kept
for a short time by every process of one machine, so that a task submits with one call (SubmitJob) when another
task of the same worker checked the same queue and definition less than :data:`DEFAULT_TTL_SECONDS` ago.

Airflow 3 runs every task in a new process, so memory alone would make every task a cold one: the facts are
also written, as JSON, to a directory of the worker (``[batch_eks] facts_cache_dir``, by default a directory of
the user's own in the system temporary directory, refused when another user owns it or may write to it).

A fact is reused for at most ``ttl`` seconds (``[batch_eks] facts_ttl``; 0 turns remembering off) on an
injectable clock. Everything is forgotten when a SubmitJob fails, and a check that would refuse a job on
remembered facts reads them again first, so a stale fact can delay a refusal by one read but never refuse a job
that fresh facts accept.

Written here rather than taken from a library: the one on-disk cache in wide use (``diskcache``) pickles its
values, and a pickle in a directory someone else could write to would run their code in the worker.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Hashable

__all__ = ["FactsCache", "FactFiles", "facts_cache", "DEFAULT_TTL_SECONDS", "default_directory"]

DEFAULT_TTL_SECONDS = 30.0
log = logging.getLogger(__name__)


def default_directory() -> Path:
    """``<system temp dir>/batch-eks-provider-<uid>/facts``: one per user of the machine."""
    return Path(tempfile.gettempdir()) / f"batch-eks-provider-{os.getuid()}" / "facts"


def _private_directory(path: Path) -> Path | None:
    """``path`` created if missing (mode 0700), or ``None`` when it is not a directory of this user's alone."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(path)
    except OSError as error:
        log.info("Not sharing submission facts between processes: cannot use %s (%s)", path, error)
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        log.warning(
            "Not sharing submission facts between processes: %s is not a directory that only this user can write", path
        )
        return None
    return path


class FactFiles:
    """One JSON file per fact in a private directory; a file that cannot be read counts as missing."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def _name(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()[:40] + ".json"

    def read(self, key: str) -> tuple[float, Any] | None:
        try:
            stored = json.loads((self.directory / self._name(key)).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get("key") != key or not isinstance(stored.get("at"), (int, float)):
            return None
        return float(stored["at"]), stored.get("value")

    def write(self, key: str, at: float, value: Any) -> None:
        """Write atomically (a reader sees the old file or the new one, never half of one)."""
        try:
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(handle, "w") as out:
                json.dump({"key": key, "at": at, "value": value}, out, default=str)
            os.replace(temporary, self.directory / self._name(key))
        except (OSError, TypeError, ValueError) as error:
            log.debug("Could not write a submission fact to %s: %s", self.directory, error)

    def clear(self) -> None:
        for path in self.directory.glob("*.json"):
            try:
                path.unlink()
            except OSError:
                pass


class FactsCache:
    """A TTL map shared by the processes of one machine: ``get(key, load)`` returns a value loaded less than
    ``ttl`` seconds ago (here or by another process), else calls ``load()``.

    :param ttl: Seconds a fact is reused; default ``[batch_eks] facts_ttl``, else :data:`DEFAULT_TTL_SECONDS`.
    :param directory: Where the facts are shared; default ``[batch_eks] facts_cache_dir``, else
        :func:`default_directory`. Settings are read at the first ``get``.
    :param clock: Seconds since the epoch (shared with other processes; tests pass a fake).
    """

    def __init__(
        self, ttl: float | None = None, directory: str | os.PathLike[str] | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._ttl = ttl
        self._directory = directory
        self._files: FactFiles | None = None
        self._resolved = False
        self.clock = clock
        self._memory: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    @property
    def ttl(self) -> float:
        if self._ttl is None:
            from airflow.configuration import conf

            self._ttl = conf.getfloat("batch_eks", "facts_ttl", fallback=DEFAULT_TTL_SECONDS)
        return self._ttl

    @property
    def files(self) -> FactFiles | None:
        """The shared directory, or ``None`` when facts stay in this process."""
        if not self._resolved:
            setting = self._directory
            if setting is None:
                from airflow.configuration import conf

                setting = conf.get("batch_eks", "facts_cache_dir", fallback="") or None
            directory = _private_directory(Path(setting) if setting else default_directory())
            self._files = FactFiles(directory) if directory else None
            self._resolved = True
        return self._files

    def get(self, key: Hashable, load: Callable[[], Any]) -> tuple[Any, bool]:
        """The value of ``key`` and whether it was remembered (``load()`` otherwise; ``None`` is not kept)."""
        if self.ttl <= 0:
            return load(), False
        name, now = repr(key), self.clock()
        with self._lock:
            found = self._memory.get(name)
        if not self._fresh(found, now) and self.files is not None:
            found = self.files.read(name)  # another task of this worker may have read it since
        if self._fresh(found, now):
            with self._lock:
                self._memory[name] = found
            return found[1], True  # type: ignore[index]
        value = load()
        if value is not None:
            with self._lock:
                self._memory[name] = (now, value)
            if self.files is not None:
                self.files.write(name, now, value)
        return value, False

    def _fresh(self, found: tuple[float, Any] | None, now: float) -> bool:
        return found is not None and 0 <= now - found[0] < self.ttl

    def clear(self) -> None:
        """Forget every fact, in this process and the shared directory (after a failed SubmitJob, or when a
        refusal must be checked on fresh facts)."""
        with self._lock:
            self._memory.clear()
        if self.files is not None:
            self.files.clear()


facts_cache = FactsCache()
"""The cache the hook reads."""
