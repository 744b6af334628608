"""Turn a job attempt into a Kubernetes pod the way AWS Batch does on EKS."""

from __future__ import annotations

import uuid
from typing import Any

from .capacity import BATCH_TAINT_KEY
from ..store.models import ComputeEnvironment, Job, Node, Pod
from ..runtime.process import ContainerSpec
from ..resources import parse_memory_mib

__all__ = ["build_pod", "container_specs", "BATCH_TAINT_KEY"]


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


def container_specs(pod: Pod, base_env: dict[str, str]) -> tuple[list[ContainerSpec], list[ContainerSpec]]:
    """The processes to run for a pod: argv = command + args, env = the host's base env + the pod's."""

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
