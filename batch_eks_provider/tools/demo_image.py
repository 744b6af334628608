"""A local stand-in for the demo's job image, for ``DEMO_RUNTIME=docker`` where no registry is reachable.

The data-on-eks blueprint's job definition names ``public.ecr.aws/amazonlinux/amazonlinux:2`` and the example
DAGs run ``sh -c`` and ``python3 -c`` in it. When the daemon has no image of that name (and cannot pull one),
:func:`ensure_demo_image` imports a small rootfs under that name: a shell (Debian's static busybox, else this
machine's ``dash``) and this machine's ``/usr/bin/python3`` with the shared libraries ``ldd`` lists and its
standard library (no site packages). It is the demo's convenience, said out loud when it is made; a real
image of that name, when present, is used as it is.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sysconfig
import tarfile
from pathlib import Path
from typing import Any

__all__ = ["DEMO_IMAGE", "ensure_demo_image"]

DEMO_IMAGE = "public.ecr.aws/amazonlinux/amazonlinux:2"
_SKIP_STDLIB = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages", "dist-packages", "__pycache__"}


def _libraries(binary: str) -> list[str]:
    """The shared objects ``ldd`` says ``binary`` loads (the dynamic loader included)."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return sorted({m.group(1) for m in re.finditer(r"(/\S+) \(0x", out)})


def _add_file(tar: tarfile.TarFile, source: str, target: str | None = None) -> None:
    tar.add(os.path.realpath(source), arcname=(target or source).lstrip("/"), recursive=False)


def _rootfs_tar() -> bytes:
    python = os.path.realpath("/usr/bin/python3")
    stdlib = sysconfig.get_paths(vars={"installed_base": "/usr", "base": "/usr"})["stdlib"]
    version = Path(python).name  # python3.11
    stdlib = f"/usr/lib/{version}" if os.path.isdir(f"/usr/lib/{version}") else stdlib
    busybox = shutil.which("busybox")
    shell = busybox or "/bin/dash"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "tmp", "etc", "usr/bin", "root"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        _add_file(tar, shell, "/bin/busybox" if busybox else "/bin/sh")
        links = ["sh", "echo", "cat", "ls", "sleep", "env", "true", "false", "date", "head", "tail", "wc"] if busybox else []
        for name in links:
            info = tarfile.TarInfo(f"bin/{name}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        _add_file(tar, python, f"/usr/bin/{version}")
        for name in ("python3", "python"):
            info = tarfile.TarInfo(f"usr/bin/{name}")
            info.type, info.linkname = tarfile.SYMTYPE, version
            tar.addfile(info)
        for library in {*_libraries(python), *([] if busybox else _libraries(shell))}:
            _add_file(tar, library)
        for root, dirs, files in os.walk(stdlib):
            dirs[:] = [d for d in dirs if d not in _SKIP_STDLIB]
            for name in files:
                if not name.endswith((".pyc", ".exe")):
                    _add_file(tar, os.path.join(root, name))
    return buffer.getvalue()


def ensure_demo_image(client: Any | None = None) -> str | None:
    """Make :data:`DEMO_IMAGE` present in the Docker daemon; returns what was done (None: it was there)."""
    from ..local.runtime.docker_daemon import connect

    own = client is None
    client = client or connect()
    try:
        import docker.errors

        try:
            client.api.inspect_image(DEMO_IMAGE)
            return None
        except docker.errors.ImageNotFound:
            pass
        repository, tag = DEMO_IMAGE.rsplit(":", 1)
        client.api.import_image_from_data(
            _rootfs_tar(),
            repository=repository,
            tag=tag,
            changes=["ENV PATH=/usr/local/bin:/usr/bin:/bin", 'CMD ["/bin/sh"]'],
        )
        return f"imported a local stand-in for {DEMO_IMAGE} (a shell and this machine's python3; no registry is reachable)"
    finally:
        if own:
            client.close()
