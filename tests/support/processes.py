"""Find processes as a person would with ``ps``: by their exact command line, in ``/proc``."""

from __future__ import annotations

import os

__all__ = ["live_processes"]


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
            with open(f"/proc/{name}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    continue
        except OSError:
            continue
        found.append(int(name))
    return found
