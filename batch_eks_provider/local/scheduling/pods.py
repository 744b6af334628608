"""Turn a job attempt into a Kubernetes pod the way AWS Batch does on EKS."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Any, Mapping

from .capacity import BATCH_TAINT_KEY
from ..store.models import ComputeEnvironment, Job, Node, Pod
from ..runtime.process import ContainerSpec
from ..resources import parse_memory_mib

__all__ = ["build_pod", "container_specs", "container_base_env", "CONTAINER_PATH", "BATCH_TAINT_KEY"]

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
    return result


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
        "dnsPolicy": props.get("dnsPolicy", "ClusterFirstWithHostNet"),
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


def container_specs(pod: Pod, base_env: dict[str, str]) -> tuple[list[ContainerSpec], list[ContainerSpec]]:
    """The processes to run for a pod: argv = command + args, env = ``base_env`` (see
    :func:`container_base_env`) + the container's ``env`` (the Batch variables and the definition's)."""

    def spec(container: dict[str, Any]) -> ContainerSpec:
        env = dict(base_env)
        env.update({e["name"]: e["value"] for e in container.get("env", [])})
        limit = (container.get("resources") or {}).get("limits", {}).get("memory")
        return ContainerSpec(
            name=container["name"],
            argv=list(container.get("command") or []) + list(container.get("args") or []),
            env=env,
            memory_limit_mib=parse_memory_mib(limit, "pod") if limit else None,
        )

    return [spec(c) for c in pod.spec.get("initContainers", [])], [spec(c) for c in pod.spec["containers"]]
