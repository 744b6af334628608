"""On the docker runtime, as a user sees it through boto3 and the Kubernetes client: ``LocalEngine(runtime=...)``
picks the runtime; a job is STARTING while its image is pulled and its init containers run (its pod Pending),
RUNNING (``startedAt``) once its containers have started; a pod whose image cannot be pulled shows its container
waiting, ``ErrImagePull``; a pod off the host network has an IP of its own."""

from __future__ import annotations

import time

import pytest

from batch_eks_provider.local import LocalEngine
from batch_eks_provider.local.engine import RuntimeUnavailable
from batch_eks_provider.local.store.state import EngineConfig
from tests.engine.runtime.conftest import NAMESPACE, DockerEnv
from tests.engine.scheduling.kubernetes_client import core_v1, kubectl_row
from tests.support.docker_images import BUSYBOX_IMAGE, IMAGE_MARKER

LIMITS = {"limits": {"cpu": "0.25", "memory": "32Mi"}}


def _pod(env, job: dict):
    return core_v1(env).read_namespaced_pod(job["eksProperties"]["podProperties"]["podName"], NAMESPACE)


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- choosing the runtime (no daemon needed) --------------------------------------------------------------------
def test_an_unknown_runtime_is_refused_when_the_engine_is_made():
    with pytest.raises(ValueError, match=r"Invalid runtime 'podman': must be one of process, docker, auto\."):
        LocalEngine(runtime="podman")


def test_the_docker_runtime_without_a_daemon_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(RuntimeUnavailable, match=r"The docker runtime cannot start: No Docker daemon answers at unix:///nonexistent/docker.sock"):
        LocalEngine(runtime="docker", state_dir=tmp_path / "engine").start()


@pytest.mark.docker
@pytest.mark.timeout(180)
def test_local_engine_runtime_docker_runs_the_job_in_its_image(images, monkeypatch, tmp_path):
    monkeypatch.setenv("BATCH_EKS_RUNTIME", "process")  # the argument wins over the environment
    config = EngineConfig(node_startup_seconds=0.0, node_idle_seconds=1.0, termination_grace_seconds=1.0)
    with LocalEngine(runtime="docker", state_dir=tmp_path / "engine", config=config) as local:
        assert local.engine.runtime_name == "docker"
        env = DockerEnv(local)
        env.ce("ce")
        env.queue("q", ["ce"])
        env.image_definition("in-image", BUSYBOX_IMAGE, command=["cat", IMAGE_MARKER])
        done = env.wait(env.submit("q", "in-image"), timeout=60)
        assert done["status"] == "SUCCEEDED", done.get("statusReason")
        (container,) = done["eksAttempts"][0]["containers"]
        assert container["containerID"].startswith("docker://")
        assert env.output(done["eksAttempts"][0]) == ["batch-eks test image"]  # a file only the image has


# -- STARTING while the image is pulled and init containers run ---------------------------------------------------
@pytest.mark.docker
@pytest.mark.timeout(180)
def test_a_job_is_starting_while_its_image_is_pulled(denv, slow_registry):
    denv.image_definition("slow-pull", BUSYBOX_IMAGE, command=["echo", "pulled"])
    job_id = denv.submit("q", "slow-pull")
    assert slow_registry.pulling.wait(20)
    job = denv.job(job_id)
    assert job["status"] == "STARTING" and "startedAt" not in job
    pod = _pod(denv, job)
    assert pod.status.phase == "Pending"
    assert pod.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    released_at = _now_ms()
    slow_registry.release.set()
    done = denv.wait(job_id, timeout=60)
    assert done["status"] == "SUCCEEDED", done.get("statusReason")
    assert done["startedAt"] >= released_at  # the pull counted as STARTING
    assert done["eksAttempts"][0]["startedAt"] == done["startedAt"]


@pytest.mark.docker
@pytest.mark.timeout(180)
def test_a_job_is_starting_while_its_init_container_runs(denv, tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    mounts = [{"name": "gate", "mountPath": "/gate"}]
    pod = {
        "volumes": [{"name": "gate", "hostPath": {"path": str(gate)}}],
        "initContainers": [{"name": "wait", "image": BUSYBOX_IMAGE, "resources": LIMITS, "volumeMounts": mounts,
                            "command": ["sh", "-c", "echo waiting; until [ -e /gate/open ]; do sleep 0.05; done"]}],
        "containers": [{"name": "main", "image": BUSYBOX_IMAGE, "resources": LIMITS, "command": ["echo", "ran"]}],
    }
    denv.pod_definition("gated", pod)
    job_id = denv.submit("q", "gated")
    denv.wait_for_output(job_id, "waiting", container="wait", timeout=60)
    job = denv.job(job_id)
    assert job["status"] == "STARTING" and "startedAt" not in job
    k8s_pod = _pod(denv, job)
    assert k8s_pod.status.phase == "Pending"
    assert [c.state.waiting.reason for c in k8s_pod.status.container_statuses] == ["PodInitializing"]
    opened_at = _now_ms()
    (gate / "open").touch()
    done = denv.wait(job_id, timeout=60)
    assert done["status"] == "SUCCEEDED", done.get("statusReason")
    assert done["startedAt"] >= opened_at


# -- a pod whose image cannot be pulled ---------------------------------------------------------------------------
@pytest.mark.docker
@pytest.mark.timeout(180)
def test_a_pod_whose_image_cannot_be_pulled_shows_err_image_pull(denv):
    denv.image_definition("absent", "batch-eks-test/not-built:3", command=["true"])
    done = denv.wait(denv.submit("q", "absent"), timeout=60)
    assert done["status"] == "FAILED"
    assert done["statusReason"].startswith("CannotPullContainerError: failed to pull image 'batch-eks-test/not-built:3'")
    assert "startedAt" not in done and "startedAt" not in done["eksAttempts"][0]  # it never ran
    pod = _pod(denv, done)
    (container,) = pod.status.container_statuses
    assert container.state.terminated is None and container.state.running is None
    assert container.state.waiting.reason == "ErrImagePull"
    assert container.state.waiting.message.startswith("failed to pull image 'batch-eks-test/not-built:3'")
    assert container.ready is False
    assert kubectl_row(denv, pod.metadata.name)[1:3] == ["0/1", "ErrImagePull"]  # READY, STATUS


# -- pod IPs --------------------------------------------------------------------------------------------------------
@pytest.mark.docker
@pytest.mark.timeout(180)
def test_a_pod_off_the_host_network_has_its_own_ip_and_cluster_first_dns(denv):
    denv.pod_definition("own-net", {"hostNetwork": False, "containers": [
        {"name": "main", "image": BUSYBOX_IMAGE, "resources": LIMITS, "command": ["true"]}]})
    denv.image_definition("host-net", BUSYBOX_IMAGE, command=["true"])
    own = denv.wait(denv.submit("q", "own-net"), timeout=60)
    host = denv.wait(denv.submit("q", "host-net"), timeout=60)
    assert (own["status"], host["status"]) == ("SUCCEEDED", "SUCCEEDED")
    own_pod, host_pod = _pod(denv, own), _pod(denv, host)
    assert (own_pod.spec.host_network, own_pod.spec.dns_policy) == (False, "ClusterFirst")
    assert own_pod.status.pod_ip != own_pod.status.host_ip
    assert [ip.ip for ip in own_pod.status.pod_ips] == [own_pod.status.pod_ip]
    assert (host_pod.spec.host_network, host_pod.spec.dns_policy) == (True, "ClusterFirstWithHostNet")
    assert host_pod.status.pod_ip == host_pod.status.host_ip == _node_ip(denv, host_pod.spec.node_name)
    assert own_pod.status.host_ip == _node_ip(denv, own_pod.spec.node_name)


def _node_ip(env, node_name: str) -> str:
    """The node's private IP as its EKS name spells it (``ip-10-0-1-2.ec2.internal``: the node may be gone)."""
    return ".".join(node_name.split(".", 1)[0].split("-")[1:5])
