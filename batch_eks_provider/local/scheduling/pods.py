"""Turn a job attempt into a Kubernetes pod the way AWS Batch does on EKS."""

from __future__ import annotations

import hashlib
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any, Mapping

from .capacity import BATCH_TAINT_KEY
from ..store.models import ComputeEnvironment, Job, Node, Pod
from ..runtime.expansion import expand_all, expand_env
from ..runtime.process import ContainerSpec
from ..resources import parse_cpu, parse_gpu, parse_memory_mib

__all__ = [
    "build_pod",
    "container_specs",
    "container_base_env",
    "default_dns_policy",
    "pod_ip",
    "node_ip",
    "CONTAINER_PATH",
    "BATCH_TAINT_KEY",
]

# The PATH of a typical Linux container image. The directory of the engine's own Python is put in front
# (below), so that ``python3`` in a job is the engine's interpreter (a venv's, with its packages).
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _batch_env(job: Job, ce: ComputeEnvironment, node: Node) -> list[dict[str, str]]:
    env = [
        {"name": "AWS_BATCH_JOB_KUBERNETES_NODE_UID", "value": node.uid},
        {"name": "AWS_BATCH_JOB_ID", "value": job.job_id},
        {"name": "AWS_BATCH_JQ_NAME", "value": job.job_queue_arn.rsplit("/", 1)[-1]},
        {"name": "AWS_BATCH_JOB_ATTEMPT", "value": str(job.attempt_number)},
        {"name": "AWS_BATCH_CE_NAME", "value": ce.name},
    ]
    if job.array_index is not None:
        env.append({"name": "AWS_BATCH_JOB_ARRAY_INDEX", "value": str(job.array_index)})
    return env


def _k8s_container(container: dict[str, Any], batch_env: list[dict[str, str]]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": container["name"].lower(),
        "image": container.get("image"),
        "imagePullPolicy": container.get("imagePullPolicy", "IfNotPresent"),
        "env": batch_env + [{"name": e["name"], "value": e.get("value", "")} for e in container.get("env") or []],
        "resources": container.get("resources") or {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if container.get("command"):
        result["command"] = list(container["command"])
    if container.get("args"):
        result["args"] = list(container["args"])
    for key in ("workingDir", "securityContext", "volumeMounts"):  # kept as given (workingDir: Kubernetes only)
        if container.get(key):
            result[key] = container[key]
    return result


def default_dns_policy(props: Mapping[str, Any]) -> str:
    """The pod's ``dnsPolicy`` as Batch sets it: the one given; else ``ClusterFirstWithHostNet`` when
    ``hostNetwork`` is not given at all, ``ClusterFirst`` when it is (true or false) -- botocore's
    ``EksPodProperties.dnsPolicy`` docs, and seed 000's pod of a ``hostNetwork: true`` definition."""
    if props.get("dnsPolicy"):
        return props["dnsPolicy"]
    return "ClusterFirst" if props.get("hostNetwork") is not None else "ClusterFirstWithHostNet"


def node_ip(node_name: str) -> str:
    """The node's private IP, from its ``ip-a-b-c-d.<region>.compute.internal`` name."""
    match = re.match(r"ip-(\d+)-(\d+)-(\d+)-(\d+)", node_name)
    return ".".join(match.groups()) if match else "10.0.0.1"


def pod_ip(pod: Pod) -> str:
    """``status.podIP``: the node's IP for a ``hostNetwork`` pod; otherwise an address of the pod's own in
    the node's /16 (the VPC CNI gives each pod a secondary IP of the node's subnet), fixed by the pod's uid
    and never the node's."""
    host = node_ip(pod.node_name)
    if pod.spec.get("hostNetwork", True):
        return host
    a, b, c, d = (int(x) for x in host.split("."))
    digest = hashlib.sha256(pod.uid.encode()).digest()
    third, fourth = digest[0], 1 + digest[1] % 254
    if (third, fourth) == (c, d):
        fourth = 1 + fourth % 254
    return f"{a}.{b}.{third}.{fourth}"


def build_pod(job: Job, ce: ComputeEnvironment, node: Node, now: float) -> Pod:
    """The pod of the job's current attempt (``job.attempt_number``) on ``node``."""
    props = job.pod_properties
    batch_env = _batch_env(job, ce, node)
    metadata = props.get("metadata") or {}
    labels = {
        **(metadata.get("labels") or {}),
        "batch.amazonaws.com/job-id": job.job_id.replace(":", "-"),
        "batch.amazonaws.com/compute-environment-uuid": ce.uuid,
        "batch.amazonaws.com/node-uid": node.uid,
    }
    spec: dict[str, Any] = {
        "containers": [_k8s_container(c, batch_env) for c in props.get("containers", [])],
        "dnsPolicy": default_dns_policy(props),
        "hostNetwork": props.get("hostNetwork", True),
        "nodeName": node.name,
        "restartPolicy": "Never",
        "schedulerName": "default-scheduler",
        "serviceAccountName": props.get("serviceAccountName", "default"),
        "terminationGracePeriodSeconds": 30,
        "tolerations": [
            {"effect": "NoSchedule", "key": BATCH_TAINT_KEY, "operator": "Exists"},
            {"effect": "NoExecute", "key": BATCH_TAINT_KEY, "operator": "Exists"},
        ],
    }
    if props.get("initContainers"):
        spec["initContainers"] = [_k8s_container(c, batch_env) for c in props["initContainers"]]
    for key in ("volumes", "shareProcessNamespace", "imagePullSecrets"):
        if props.get(key):
            spec[key] = props[key]
    return Pod(
        name=f"aws-batch.{uuid.uuid4()}",
        namespace=ce.namespace,
        uid=str(uuid.uuid4()),
        job_id=job.job_id,
        attempt_number=job.attempt_number,
        node_name=node.name,
        ce_name=ce.name,
        spec=spec,
        labels=labels,
        created_at=now,
    )


def container_base_env(
    pod_name: str,
    home: Path,
    api_address: tuple[str, int] | None,
    pass_env: tuple[str, ...] = (),
    engine_env: Mapping[str, str] = os.environ,
) -> dict[str, str]:
    """What a container's process gets besides the pod's ``env`` (which holds the Batch variables): what
    kubelet gives every container on EKS, and nothing of the engine's own environment but the names the
    operator passes (``pass_env``; names the engine does not have are left out).

    - ``PATH``: the engine's Python directory, then :data:`CONTAINER_PATH`;
    - ``HOSTNAME``: the pod name; ``HOME``: the pod's working directory (writable, unlike ``/root`` for a
      developer who is not root);
    - the Kubernetes service variables, pointing at the engine's own Kubernetes API (plain HTTP on
      loopback, so there is no ``KUBERNETES_SERVICE_PORT_HTTPS``); left out while the engine does not
      know the address it serves on.
    """
    python_dir = os.path.dirname(sys.executable)
    env = {name: engine_env[name] for name in pass_env if name in engine_env}
    env.update(
        {
            "PATH": f"{python_dir}:{CONTAINER_PATH}" if python_dir else CONTAINER_PATH,
            "HOSTNAME": pod_name,
            "HOME": str(home),
        }
    )
    if "PATH" in pass_env and "PATH" in engine_env:
        env["PATH"] = engine_env["PATH"]
    if api_address is not None:
        host, port = api_address
        env.update(
            {
                "KUBERNETES_SERVICE_HOST": host,
                "KUBERNETES_SERVICE_PORT": str(port),
                "KUBERNETES_PORT": f"tcp://{host}:{port}",
                f"KUBERNETES_PORT_{port}_TCP": f"tcp://{host}:{port}",
                f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
                f"KUBERNETES_PORT_{port}_TCP_PORT": str(port),
                f"KUBERNETES_PORT_{port}_TCP_ADDR": host,
            }
        )
    return env


# what container_base_env adds for a host process only; a container runtime takes PATH and HOME from the image
# and HOSTNAME from the pod's sandbox
_HOST_PROCESS_ONLY = ("PATH", "HOME", "HOSTNAME")


def container_specs(pod: Pod, base_env: dict[str, str]) -> tuple[list[ContainerSpec], list[ContainerSpec]]:
    """The containers to run for a pod.

    - ``env`` (the process runtime): ``base_env`` (see :func:`container_base_env`) + the container's ``env``
      (the Batch variables and the definition's);
    - ``container_env`` (a container runtime): the same without the host-process-only names (PATH, HOME,
      HOSTNAME: the image and the sandbox give those);
    - ``command``/``args`` with their ``$(VAR)`` references expanded from the container's environment (the
      pod's env and the service variables), as kubelet does; ``argv`` = command + args.
    """

    def spec(container: dict[str, Any]) -> ContainerSpec:
        service = {k: v for k, v in base_env.items() if k not in _HOST_PROCESS_ONLY}
        pod_env = expand_env(container.get("env", []), service)
        container_env = {**service, **pod_env}
        command = expand_all(container.get("command"), container_env)
        args = expand_all(container.get("args"), container_env)
        limits = (container.get("resources") or {}).get("limits") or {}
        memory, cpu, gpu = limits.get("memory"), limits.get("cpu"), limits.get("nvidia.com/gpu")
        return ContainerSpec(
            name=container["name"],
            argv=list(command or []) + list(args or []),
            env={**base_env, **pod_env},
            memory_limit_mib=parse_memory_mib(memory, "pod") if memory else None,
            image=container.get("image"),
            image_pull_policy=container.get("imagePullPolicy"),
            command=command,
            args=args,
            container_env=container_env,
            cpu_limit=float(parse_cpu(cpu, "pod")) if cpu else None,
            working_dir=container.get("workingDir"),
            security_context=dict(container.get("securityContext") or {}),
            volume_mounts=list(container.get("volumeMounts") or []),
            gpu_limit=parse_gpu(gpu, "pod") if gpu else 0,
        )

    return [spec(c) for c in pod.spec.get("initContainers", [])], [spec(c) for c in pod.spec["containers"]]
