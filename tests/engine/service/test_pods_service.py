"""The service layer of the Kubernetes routes (:mod:`batch_eks_provider.local.service.pods`), called directly
on a real engine that runs on the test's own event loop (pods are local processes, the scheduler its own
task): which pods, nodes and namespaces exist and match a selector, what a pod's log holds, following it
while the pod runs, and deleting a pod that ended or one that runs."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest

from batch_eks_provider.local.api.kubernetes_objects import FieldSelector, LabelSelector
from batch_eks_provider.local.blueprints import apply_blueprint
from batch_eks_provider.local.engine import Engine
from batch_eks_provider.local.errors import KubernetesError
from batch_eks_provider.local.service import jobs, pods
from batch_eks_provider.local.store.models import Pod
from batch_eks_provider.local.store.state import EngineConfig

QUEUE, DEFINITION = "doeks-JQ1_OD", "doeks-hello-world"
NAMESPACE, CONTAINER = "doeks-aws-batch", "application"
ALL_LABELS = LabelSelector(None)


@contextlib.asynccontextmanager
async def running_engine(tmp_path: Path) -> AsyncIterator[Engine]:
    """An engine with the data-on-eks blueprint, its scheduler running on this loop."""
    engine = Engine(
        EngineConfig(node_startup_seconds=0.0, termination_grace_seconds=1.0, pod_retention_seconds=600.0),
        tmp_path / "engine",
    )
    apply_blueprint(engine, "data-on-eks")
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def until(predicate: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Let the engine run until ``predicate()`` is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
    return value


async def run_script(engine: Engine, name: str, script: str) -> Pod:
    """Submit a job whose container runs ``script`` and return its pod once it exists."""
    container = {"command": ["/bin/sh", "-c"], "args": [script]}
    params = {
        "jobName": name,
        "jobQueue": QUEUE,
        "jobDefinition": DEFINITION,
        "eksPropertiesOverride": {"podProperties": {"containers": [container]}},
    }
    job = engine.state.jobs[jobs.submit(engine.state, engine.scheduler, params)["jobId"]]
    return await until(lambda: engine.state.pods.get(job.pod_name or ""), f"the pod of job {name}")


def fields(text: str | None, supported: dict[str, Any] = pods.POD_FIELDS) -> FieldSelector:
    return FieldSelector(text, supported)


def messages(lines) -> list[str]:
    return [line.message for line in lines]


async def followed(engine: Engine, pod: Pod, start: int = 0) -> list[str]:
    return [line.message async for line in pods.follow_log(engine.state, engine.logs, pod, CONTAINER, start)]


def test_an_ended_pod_is_listed_found_and_read_until_it_is_deleted(tmp_path):
    async def scenario() -> None:
        async with running_engine(tmp_path) as engine:
            state = engine.state
            pod = await run_script(engine, "three-lines", "echo one; echo two; echo three")
            await until(lambda: pod.finished_at is not None, "the pod to end")
            assert pod.phase == "Succeeded"

            def listed(namespace: str | None, labels: LabelSelector, field_text: str | None) -> list[Pod]:
                return pods.list_pods(state, namespace, labels, fields(field_text))

            assert listed(None, ALL_LABELS, None) == [pod]
            assert listed(NAMESPACE, ALL_LABELS, "status.phase=Succeeded") == [pod]
            assert listed(NAMESPACE, ALL_LABELS, f"spec.nodeName!={pod.node_name}") == []
            assert listed("kube-system", ALL_LABELS, None) == []
            job_id_label = "batch.amazonaws.com/job-id"
            job_label = LabelSelector(f"{job_id_label}={pod.labels[job_id_label]}")
            assert listed(None, job_label, None) == [pod]
            assert listed(None, LabelSelector(f"!{job_id_label}"), None) == []
            assert pods.find_pod(state, NAMESPACE, pod.name) is pod
            with pytest.raises(KubernetesError) as elsewhere:
                pods.find_pod(state, "default", pod.name)
            assert (elsewhere.value.code, elsewhere.value.reason) == (404, "NotFound")
            assert pods.pod_created_ms(state, pod.name) == pod.created_at * 1000

            assert pods.log_container(pod, None) == CONTAINER
            assert pods.log_container(pod, CONTAINER) == CONTAINER
            with pytest.raises(KubernetesError, match=f"container main is not valid for pod {pod.name}"):
                pods.log_container(pod, "main")
            with pytest.raises(KubernetesError, match=f'previous terminated container "{CONTAINER}"'):
                pods.log_container(pod, None, previous=True)
            lines, start = pods.log_lines(engine.logs, pod, CONTAINER)
            assert (messages(lines), start) == (["one", "two", "three"], 0)
            assert pods.log_lines(engine.logs, pod, CONTAINER, tail=1)[1] == 2
            assert pods.log_lines(engine.logs, pod, CONTAINER, since=lines[-1].timestamp + 1)[1] == 3
            assert await asyncio.wait_for(followed(engine, pod, start=1), timeout=5) == ["two", "three"]

            seen = pods.delete_pod(
                state, engine.scheduler, NAMESPACE, pod.name, lambda p: (p.name, p.deleted, p.phase)
            )
            assert seen == (pod.name, True, "Succeeded")  # the answer shows the pod marked for deletion
            assert pod.name not in state.pods  # an ended pod goes at once: its record and its log lines
            assert pods.log_lines(engine.logs, pod, CONTAINER) == ([], 0)
            assert pods.visible_pods(state) == []
            with pytest.raises(KubernetesError, match=pod.name):
                pods.delete_pod(state, engine.scheduler, NAMESPACE, pod.name, lambda p: p)

    asyncio.run(scenario())


def test_deleting_a_running_pod_stops_it_ends_its_followers_and_fails_its_attempt(tmp_path):
    async def scenario() -> None:
        async with running_engine(tmp_path) as engine:
            state = engine.state
            pod = await run_script(engine, "sleeper", "echo started; exec sleep 60")
            await until(lambda: messages(pods.log_lines(engine.logs, pod, CONTAINER)[0]), "the first line")
            follower = asyncio.create_task(followed(engine, pod))
            await asyncio.sleep(0.2)
            assert not follower.done()  # it waits for more while the pod runs

            still_running = pods.delete_pod(
                state, engine.scheduler, NAMESPACE, pod.name, lambda p: p.deleted and p.finished_at is None
            )
            assert still_running
            assert await asyncio.wait_for(follower, timeout=10) == ["started"]  # it ends when the pod does
            job = state.jobs[pod.job_id]
            await until(lambda: job.status == "FAILED", "the job to fail")
            assert pods.DELETED_POD_REASON.format(name=pod.name) in job.eks_attempts[-1]["statusReason"]
            assert pod not in pods.visible_pods(state)  # deleted through the API and ended: gone for the API
            with pytest.raises(KubernetesError, match=pod.name):
                pods.find_pod(state, NAMESPACE, pod.name)

    asyncio.run(scenario())


def test_nodes_and_namespaces_as_the_kubernetes_api_lists_them(tmp_path):
    async def scenario() -> None:
        async with running_engine(tmp_path) as engine:
            state = engine.state
            pod = await run_script(engine, "sleeper", "exec sleep 60")
            node = state.nodes[pod.node_name]
            await until(lambda: node.status == "Ready", "the node to be ready")

            (view,) = pods.list_nodes(state, ALL_LABELS, fields(None, pods.NODE_FIELDS))
            ce = state.compute_environments[node.ce_name]
            assert view == pods.NodeView(node, ce, "us-east-1", state.eks_cluster(ce.cluster_arn).version)
            assert pods.find_node(state, node.name) == view
            by_name = fields(f"metadata.name={node.name}", pods.NODE_FIELDS)
            hostname = LabelSelector(f"kubernetes.io/hostname={node.name}")
            assert pods.list_nodes(state, hostname, by_name) == [view]
            assert pods.list_nodes(state, LabelSelector("kubernetes.io/arch=arm64"), by_name) == []
            assert pods.live_nodes(state) == [node]
            with pytest.raises(KubernetesError, match="ip-10-0-0-0.ec2.internal"):
                pods.find_node(state, "ip-10-0-0-0.ec2.internal")

            oldest = min(ce.created_at for ce in state.compute_environments.values())
            found = pods.namespaces(state)
            assert set(found) == {*pods.SYSTEM_NAMESPACES, NAMESPACE}
            assert {found[name] for name in pods.SYSTEM_NAMESPACES} == {oldest}
            everything = fields(None, pods.NAMESPACE_FIELDS)
            assert list(pods.list_namespaces(state, ALL_LABELS, everything)) == sorted(found)  # by name
            system = LabelSelector("kubernetes.io/metadata.name in (kube-system, kube-public)")
            kube = pods.list_namespaces(state, system, everything)
            assert kube == {"kube-public": oldest, "kube-system": oldest}
            default = fields("metadata.name=default", pods.NAMESPACE_FIELDS)
            assert pods.list_namespaces(state, ALL_LABELS, default) == {"default": oldest}
            assert pods.find_namespace(state, NAMESPACE) == found[NAMESPACE]
            with pytest.raises(KubernetesError) as missing:
                pods.find_namespace(state, "nope")
            assert (missing.value.code, missing.value.message) == (404, 'namespaces "nope" not found')

    asyncio.run(scenario())
