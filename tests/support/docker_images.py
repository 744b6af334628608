"""A Docker daemon and local images for the docker-runtime tests; nothing is ever pulled.

- :func:`docker_unavailable_reason` says why no daemon answers (None when one does). When none answers, we
  are root, ``DOCKER_HOST`` is not set and Debian's ``dockerd`` is installed, it first starts one with
  ``tests/support/start-dockerd.sh`` (as ``.ci/run`` does).
- :data:`BUSYBOX_IMAGE` and :data:`ENTRYPOINT_IMAGE` are the test images (the ``images`` fixture of
  tests/engine/runtime builds them once); :func:`containers_labelled` is ``docker ps -a`` by the engine's labels.
- :func:`build_image` makes an image with ``docker import`` of a rootfs holding Debian's static busybox
  (``/bin/busybox`` and a symlink per applet) and a marker file, with ENTRYPOINT/CMD/ENV/WORKDIR set through
  ``--change``; an image already present under the tag is reused (the tag names its content).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "BUSYBOX",
    "BUSYBOX_IMAGE",
    "ENTRYPOINT_IMAGE",
    "IMAGE_MARKER",
    "START_DOCKERD",
    "build_image",
    "containers_labelled",
    "docker_unavailable_reason",
]

BUSYBOX = "/bin/busybox"
IMAGE_MARKER = "/etc/batch-eks-test-image"  # a file only the test images have
BUSYBOX_IMAGE = "batch-eks-test/busybox:1"  # CMD ["sh"], no ENTRYPOINT
ENTRYPOINT_IMAGE = "batch-eks-test/entrypoint:1"  # ENTRYPOINT ["echo", "from-entrypoint"], CMD ["from-cmd"]
START_DOCKERD = Path(__file__).with_name("start-dockerd.sh")


def _answers() -> str | None:
    from batch_eks_provider.local.runtime.docker_daemon import daemon_answers

    return daemon_answers(timeout=5)


def docker_unavailable_reason() -> str | None:
    """None when a Docker daemon answers (started here if it can be); otherwise why the tests skip."""
    try:
        import docker  # noqa: F401
    except ImportError:
        return "the Docker SDK for Python is not installed (pip install -e '.[test]')"
    reason = _answers()
    if reason is None:
        return None
    can_start = os.geteuid() == 0 and not os.environ.get("DOCKER_HOST") and shutil.which("dockerd")
    if can_start:
        started = subprocess.run([str(START_DOCKERD)], capture_output=True, text=True, timeout=60)
        reason = _answers()
        if reason is None:
            return None
        reason = f"{reason} (start-dockerd.sh: {(started.stderr or started.stdout).strip()[-300:]})"
    elif not shutil.which("dockerd"):
        reason += " (Debian's docker.io is not installed: apt-get install docker.io, or run .ci/run)"
    return reason


def _rootfs(root: Path, busybox: str) -> None:
    (root / "bin").mkdir(parents=True)
    for name in ("etc", "tmp", "work", "root", "dev", "proc", "sys"):
        (root / name).mkdir()
    (root / "tmp").chmod(0o1777)
    shutil.copy2(busybox, root / "bin" / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    (root / IMAGE_MARKER.lstrip("/")).write_text("batch-eks test image\n")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")


def build_image(tag: str, changes: list[str] = ()) -> str:
    """``tag`` as a local image of the busybox rootfs with these Dockerfile ``changes``; reused when present."""
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
        return tag
    busybox = shutil.which("busybox") or BUSYBOX
    if not os.path.exists(busybox):
        raise RuntimeError("busybox-static is not installed (apt-get install busybox-static)")
    with tempfile.TemporaryDirectory(prefix="batch-eks-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        _rootfs(root, busybox)
        archive = Path(tmp) / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            for item in sorted(root.iterdir()):
                tar.add(item, arcname=item.name)
        command = ["docker", "import"]
        for change in ["ENV PATH=/bin", *changes]:
            command += ["--change", change]
        subprocess.run([*command, str(archive), tag], check=True, capture_output=True, timeout=120)
    return tag


def containers_labelled(*labels: str) -> list[dict[str, Any]]:
    """``docker ps -a`` of the containers carrying all these ``key=value`` labels (id, name, state, labels)."""
    command = ["docker", "ps", "-a", "--no-trunc", "--format", "{{json .}}"]
    for label in labels:
        command += ["--filter", f"label={label}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]
