"""A pod's Kubernetes spec turned into Docker containers (pure functions; no daemon is called here).

- The pod sandbox (:mod:`.pause_image`) holds the pod's network (host for ``hostNetwork``, else a namespace of
  its own with only loopback), IPC (and, with ``shareProcessNamespace``, PID) namespaces; every container joins
  them (``container:<sandbox id>``), as kubelet's sandbox does. It also holds the pod's memory-backed
  ``emptyDir`` volumes mounted, so that they live as long as the pod.
- command/args over the image's ENTRYPOINT/CMD as Kubernetes does: ``command`` replaces ENTRYPOINT (and
  drops CMD), ``args`` replaces CMD; Docker's ``--entrypoint`` and command follow the same rule.
- Limits: ``--cpus`` from the cpu limit, ``--memory`` (swap off: ``memswap = memory``) from the memory limit.
- ``securityContext``: runAsUser/runAsGroup (``--user``), runAsNonRoot (checked against the image's user, as
  kubelet does), privileged, readOnlyRootFilesystem, allowPrivilegeEscalation false (no-new-privileges).
- Volumes: ``emptyDir`` (a directory under the engine's work dir, mode 0777 as kubelet makes it; a Docker
  volume when the daemon is remote; tmpfs for ``medium: Memory``) and ``hostPath`` (a bind mount of the
  daemon host's path). ``secret`` and ``persistentVolumeClaim`` volumes and GPUs are not supported: the
  attempt fails at once saying so (:func:`unsupported_features`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .docker_daemon import LABEL_JOB, LABEL_POD
from .process import ContainerSpec

__all__ = ["VolumePlan", "unsupported_features", "plan_volumes", "container_config", "sandbox_config", "docker_name"]


@dataclass(frozen=True)
class VolumePlan:
    """How one pod volume is given to Docker: ``kind`` is ``bind`` (``source`` a host path) or ``volume``
    (``source`` a Docker volume name, made for the pod and removed with it)."""

    name: str
    kind: str
    source: str
    memory: bool = False
    size_limit: str | None = None


def docker_name(kind: str, pod: Any) -> str:
    """kubelet's (dockershim's) container name: ``k8s_<container>_<pod>_<namespace>_<uid>_0``."""
    return f"k8s_{kind}_{pod.name}_{pod.namespace}_{pod.uid}_0"


def unsupported_features(pod_spec: dict[str, Any], specs: list[ContainerSpec]) -> str | None:
    """Why the docker runtime cannot run this pod (the attempt's reason), or None."""
    volumes = {v.get("name"): v for v in pod_spec.get("volumes") or []}
    for name, volume in volumes.items():
        kinds = [k for k in ("hostPath", "emptyDir", "secret", "persistentVolumeClaim") if volume.get(k) is not None]
        if kinds and kinds[0] in ("secret", "persistentVolumeClaim"):
            return (
                f"Unsupported volume {name!r}: the local engine's docker runtime mounts emptyDir and hostPath "
                f"volumes; {kinds[0]} volumes are not supported."
            )
        if not kinds:
            return f"Unsupported volume {name!r}: it names no emptyDir or hostPath source."
    for spec in specs:
        if spec.gpu_limit:
            return (
                f"Unsupported resource nvidia.com/gpu in container {spec.name!r}: the local engine's docker "
                "runtime has no GPUs to give."
            )
        if not spec.image:
            return f"Container {spec.name!r} has no image."
        for mount in spec.volume_mounts:
            volume = volumes.get(mount.get("name"))
            if volume is None:
                return f"Container {spec.name!r} mounts volume {mount.get('name')!r}, which the pod does not define."
            if mount.get("subPath") and volume.get("hostPath") is None:
                return (
                    f"Unsupported subPath {mount['subPath']!r} of volume {mount['name']!r} in container "
                    f"{spec.name!r}: the docker runtime takes subPath on hostPath volumes only."
                )
    return None


def plan_volumes(pod: Any, local_dir: str | None) -> list[VolumePlan]:
    """The pod's volumes as Docker mounts: ``local_dir`` is the engine's directory for the pod's emptyDirs
    when the daemon shares the engine's file system (None: a remote daemon, Docker volumes instead)."""
    plans = []
    for volume in pod.spec.get("volumes") or []:
        name = volume["name"]
        if volume.get("hostPath") is not None:
            plans.append(VolumePlan(name, "bind", volume["hostPath"]["path"]))
            continue
        empty_dir = volume.get("emptyDir") or {}
        memory = empty_dir.get("medium") == "Memory"
        if memory or local_dir is None:
            plans.append(VolumePlan(name, "volume", f"{pod.name}-{name}", memory, empty_dir.get("sizeLimit")))
        else:
            plans.append(VolumePlan(name, "bind", f"{local_dir}/{name}"))
    return plans


def _size_bytes(quantity: str | None) -> int | None:
    if not quantity:
        return None
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if quantity.endswith(suffix) and quantity[: -len(suffix)].isdigit():
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity) if quantity.isdigit() else None


def volume_create_args(plan: VolumePlan, labels: dict[str, str]) -> dict[str, Any]:
    """``docker volume create`` arguments for a ``volume`` plan (tmpfs for memory-backed emptyDir)."""
    options: dict[str, str] = {}
    if plan.memory:
        size = _size_bytes(plan.size_limit)
        options = {"type": "tmpfs", "device": "tmpfs", "o": "mode=1777" + (f",size={size}" if size else "")}
    return {"name": plan.source, "driver": "local", "driver_opts": options, "labels": labels}


def _mounts(spec: ContainerSpec, plans: dict[str, VolumePlan]) -> list[dict[str, Any]]:
    mounts = []
    for mount in spec.volume_mounts:
        plan = plans[mount["name"]]
        source = plan.source
        if mount.get("subPath"):
            source = f"{source.rstrip('/')}/{mount['subPath']}"
        entry: dict[str, Any] = {
            "Target": mount["mountPath"],
            "Source": source,
            "Type": plan.kind,
            "ReadOnly": bool(mount.get("readOnly")),
        }
        if plan.kind == "volume":
            entry["VolumeOptions"] = {"NoCopy": True}  # an emptyDir starts empty, whatever the image has there
        mounts.append(entry)
    return mounts


def sandbox_config(pod: Any, image: str, labels: dict[str, str], plans: list[VolumePlan]) -> dict[str, Any]:
    """``create_container`` arguments of the pod's sandbox (see the module)."""
    host_network = bool(pod.spec.get("hostNetwork", True))
    host_config: dict[str, Any] = {
        "NetworkMode": "host" if host_network else "none",
        "IpcMode": "shareable",
        "Mounts": [
            {"Target": f"/volumes/{p.name}", "Source": p.source, "Type": "volume", "VolumeOptions": {"NoCopy": True}}
            for p in plans
            if p.memory
        ],
        "AutoRemove": False,
    }
    config: dict[str, Any] = {
        "image": image,
        "labels": {**labels, "io.kubernetes.container.name": "POD"},
        "host_config": host_config,
        "name": docker_name("POD", pod),
    }
    if not host_network:
        config["hostname"] = pod.name[:63]
    return config


def _user(security: dict[str, Any]) -> str | None:
    uid, gid = security.get("runAsUser"), security.get("runAsGroup")
    if uid is None and gid is None:
        return None
    if uid is None:
        return None  # a group alone: Docker needs a user; kept as the image's (documented)
    return f"{int(uid)}:{int(gid)}" if gid is not None else str(int(uid))


def non_root_violation(spec: ContainerSpec, image_config: dict[str, Any]) -> str | None:
    """kubelet's runAsNonRoot check: the reason the container cannot start, or None."""
    security = spec.security_context
    if not security.get("runAsNonRoot"):
        return None
    uid = security.get("runAsUser")
    if uid is not None:
        return None if int(uid) != 0 else f"container {spec.name!r} has runAsNonRoot and runAsUser 0 (root)"
    user = (image_config.get("User") or "").split(":", 1)[0]
    if user in ("", "0", "root"):
        return f"container {spec.name!r} has runAsNonRoot and image will run as root"
    if not user.isdigit():
        return f"container {spec.name!r} has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root"
    return None


def container_config(
    pod: Any, spec: ContainerSpec, sandbox_id: str, labels: dict[str, str], plans: list[VolumePlan]
) -> dict[str, Any]:
    """``create_container`` arguments of one of the pod's containers, joined to the sandbox's namespaces."""
    security = spec.security_context
    host_config: dict[str, Any] = {
        "NetworkMode": f"container:{sandbox_id}",
        "IpcMode": f"container:{sandbox_id}",
        "Mounts": _mounts(spec, {p.name: p for p in plans}),
        "LogConfig": {"Type": "json-file", "Config": {}},
        "Privileged": bool(security.get("privileged")),
        "ReadonlyRootfs": bool(security.get("readOnlyRootFilesystem")),
    }
    if pod.spec.get("shareProcessNamespace"):
        host_config["PidMode"] = f"container:{sandbox_id}"
    if security.get("allowPrivilegeEscalation") is False:
        host_config["SecurityOpt"] = ["no-new-privileges"]
    if spec.cpu_limit:
        host_config["NanoCpus"] = int(spec.cpu_limit * 1e9)
    if spec.memory_limit_mib:
        host_config["Memory"] = host_config["MemorySwap"] = spec.memory_limit_mib * 1024 * 1024
    config: dict[str, Any] = {
        "image": spec.image,
        "environment": dict(spec.container_env),
        "labels": {**labels, "io.kubernetes.container.name": spec.name},
        "host_config": host_config,
        "name": docker_name(spec.name, pod),
    }
    # Kubernetes: command replaces ENTRYPOINT and drops CMD; args replaces CMD. Docker's --entrypoint clears the
    # image's CMD too, so both map one to one.
    if spec.command is not None:
        config["entrypoint"] = list(spec.command)
    if spec.args is not None:
        config["command"] = list(spec.args)
    if spec.working_dir:
        config["working_dir"] = spec.working_dir
    user = _user(security)
    if user:
        config["user"] = user
    return config


def pod_labels(pod: Any, state_label: str, runtime_labels: dict[str, str]) -> dict[str, str]:
    """The labels on every container and volume of a pod: the engine run, its state dir, the pod, the job,
    and kubelet's ``io.kubernetes.*`` names."""
    return {
        **runtime_labels,
        LABEL_POD: pod.name,
        LABEL_JOB: pod.job_id,
        "io.kubernetes.pod.name": pod.name,
        "io.kubernetes.pod.namespace": pod.namespace,
        "io.kubernetes.pod.uid": pod.uid,
    }
