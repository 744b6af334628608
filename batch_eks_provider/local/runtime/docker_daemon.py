"""The Docker daemon as the docker runtime sees it: connecting (``DOCKER_HOST`` honoured), images by
``imagePullPolicy``, the pod sandbox image, and the labels that let a later engine find what an earlier
one left. Every call here blocks: the runtime makes them on worker threads, never on the event loop.

Client library: the Docker SDK for Python (``docker`` on PyPI, the ``docker`` extra), Docker's own client:
``docker.from_env()`` reads ``DOCKER_HOST``, ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH`` as the docker CLI
does, and it needs only ``requests``, which Airflow already brings. aiodocker would put the calls on the
loop but brings aiohttp's client stack and its own DOCKER_HOST handling; the few blocking calls per
container run well on a small thread pool.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from .pause_image import PAUSE_IMAGE, pause_rootfs_tar

__all__ = [
    "DockerUnavailable",
    "ImagePullError",
    "connect",
    "daemon_answers",
    "ensure_image",
    "ensure_pause_image",
    "pull_policy",
    "LABEL_PREFIX",
    "LABEL_STATE_DIR",
    "LABEL_POD",
    "LABEL_JOB",
    "LABEL_RUNTIME",
    "LABEL_ENGINE_HOST",
    "LABEL_ENGINE_PID",
    "remove_labelled",
    "sweep_leftovers",
]

LABEL_PREFIX = "batch-eks.local"
LABEL_STATE_DIR = f"{LABEL_PREFIX}/state-dir"  # the engine's state dir (or its temporary work root)
LABEL_POD = f"{LABEL_PREFIX}/pod"
LABEL_JOB = f"{LABEL_PREFIX}/job-id"
LABEL_RUNTIME = f"{LABEL_PREFIX}/runtime-id"  # one engine run
LABEL_ENGINE_HOST = f"{LABEL_PREFIX}/engine-host"
LABEL_ENGINE_PID = f"{LABEL_PREFIX}/engine-pid"


class DockerUnavailable(RuntimeError):
    """No Docker daemon answers (or the Docker SDK is not installed)."""


class ImagePullError(RuntimeError):
    """An image could not be had: the message is the attempt's reason, as Batch words it."""


def connect(timeout: float = 60.0) -> Any:
    """A Docker client from the environment (``DOCKER_HOST`` or the default socket) that has answered a ping."""
    try:
        import docker
    except ImportError as e:
        raise DockerUnavailable(
            "The docker runtime needs the Docker SDK for Python: pip install 'batch-eks-provider[docker]'."
        ) from e
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as e:  # docker.errors.DockerException, requests' ConnectionError, a bad DOCKER_HOST
        raise DockerUnavailable(f"No Docker daemon answers at {where}: {e}") from e
    return client


def daemon_answers(timeout: float = 3.0) -> str | None:
    """None when a daemon answers; otherwise why not (for ``--runtime auto`` and the tests' skip reason)."""
    try:
        connect(timeout).close()
    except DockerUnavailable as e:
        return str(e)
    return None


def pull_policy(image: str, given: str | None) -> str:
    """Kubernetes' default: ``Always`` for ``:latest`` or no tag (and no digest), else ``IfNotPresent``."""
    if given:
        return given
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _cannot_pull(image: str, detail: str) -> ImagePullError:
    detail = " ".join(str(detail).split())
    return ImagePullError(f"CannotPullContainerError: failed to pull image {image!r}: {detail}"[:255])


def ensure_image(client: Any, image: str, policy: str) -> dict[str, Any]:
    """The image's config (``Config`` of ``docker image inspect``), pulled first as ``policy`` says.

    ``Never`` and a missing image, or a pull that fails (no registry, no such repository, a timeout of the
    client), raise :class:`ImagePullError` at once: the attempt fails, it never waits for a registry."""
    import docker.errors

    def local() -> dict[str, Any] | None:
        try:
            return client.api.inspect_image(image)
        except docker.errors.ImageNotFound:
            return None

    found = local() if policy != "Always" else None
    if found is not None:
        return found.get("Config") or {}
    if policy == "Never":
        raise ImagePullError(
            f"CannotPullContainerError: image {image!r} is not present on the node and imagePullPolicy is Never"
        )
    repository, tag = _split_reference(image)
    try:
        client.api.pull(repository, tag=tag)
    except Exception as e:  # APIError (not found, denied), requests' ConnectionError/ReadTimeout
        raise _cannot_pull(image, getattr(e, "explanation", None) or e) from e
    found = local()
    if found is None:
        raise _cannot_pull(image, "the daemon reported no error but has no such image")
    return found.get("Config") or {}


def _split_reference(image: str) -> tuple[str, str | None]:
    if "@" in image:
        return image, None
    head, _, last = image.rpartition("/")
    if ":" in last:
        name, tag = last.split(":", 1)
        return (f"{head}/{name}" if head else name), tag
    return image, "latest"


def ensure_pause_image(client: Any) -> str:
    """The sandbox image (:mod:`.pause_image`), imported once per daemon."""
    import docker.errors

    try:
        client.api.inspect_image(PAUSE_IMAGE)
        return PAUSE_IMAGE
    except docker.errors.ImageNotFound:
        pass
    architecture = client.version().get("Arch", "amd64")
    repository, tag = PAUSE_IMAGE.split(":")
    client.api.import_image_from_data(
        pause_rootfs_tar(architecture), repository=repository, tag=tag, changes=['ENTRYPOINT ["/pause"]']
    )
    return PAUSE_IMAGE


def remove_labelled(client: Any, filters: list[str]) -> int:
    """Force-remove every container (and volume) carrying all of these ``label=value`` filters; returns the
    number of containers removed."""
    import docker.errors

    removed = 0
    for container in client.api.containers(all=True, filters={"label": filters}):
        try:
            client.api.remove_container(container["Id"], force=True, v=True)
            removed += 1
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            if "already in progress" not in str(e):
                raise
    for volume in (client.api.volumes(filters={"label": filters}) or {}).get("Volumes") or []:
        try:
            client.api.remove_volume(volume["Name"], force=True)
        except docker.errors.APIError:
            pass  # still in use by a container being removed: the next sweep takes it
    return removed


def sweep_leftovers(client: Any, state_dir: str | None) -> int:
    """Remove what earlier engines left: every container of ``state_dir`` (its engine is gone: this one
    owns the state dir now), and the containers of engines without a state dir that ran on this machine
    and whose process is gone. Returns the number of containers removed."""
    removed = remove_labelled(client, [f"{LABEL_STATE_DIR}={state_dir}"]) if state_dir else 0
    host = socket.gethostname()
    pids: set[str] = set()
    for container in client.api.containers(all=True, filters={"label": [f"{LABEL_ENGINE_HOST}={host}"]}):
        labels = container.get("Labels") or {}
        pid = labels.get(LABEL_ENGINE_PID, "")
        if labels.get(LABEL_STATE_DIR, "").startswith("tmp:") and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            pids.add(pid)
    for pid in pids:
        removed += remove_labelled(client, [f"{LABEL_ENGINE_HOST}={host}", f"{LABEL_ENGINE_PID}={pid}"])
    return removed
