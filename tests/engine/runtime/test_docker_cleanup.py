"""Nothing of the docker runtime outlives its pods: ``docker ps -a`` is empty of them after pod retention, after
the engine stops, and after ``kill -9`` of the engine once another engine starts on its state dir."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.waits import wait_for, wait_for_job
from tests.support.aws import aws_client
from tests.support.docker_images import BUSYBOX_IMAGE, containers_labelled
from tests.support.served_engine import free_port, serve

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]

DOCKER_RUNTIME = ("--runtime", "docker", "--node-startup-seconds", "0")


def test_pod_retention_removes_the_pods_containers(make_docker_env):
    denv = make_docker_env(pod_retention_seconds=1.0)
    denv.image_definition("short", BUSYBOX_IMAGE, command=["echo", "done"])
    done = denv.wait(denv.submit("q", "short"))
    assert done["status"] == "SUCCEEDED", done.get("statusReason")
    pod_name = done["eksAttempts"][0]["podName"]
    label = f"batch-eks.local/pod={pod_name}"
    # right after the end the exited container and the sandbox may still be there (kubelet keeps them until
    # the pod goes); once the pod is deleted, none is left
    wait_for(lambda: not containers_labelled(label), timeout=20, what=f"the containers of {pod_name} to go")
    assert denv.output(done["eksAttempts"][0]) == ["done"]  # the logs stay in CloudWatch


def test_stopping_the_engine_removes_its_containers(make_docker_env, tmp_path):
    state_dir = tmp_path / "stopping"
    denv = make_docker_env(state_dir=state_dir)
    denv.image_definition("long", BUSYBOX_IMAGE, command=["sleep", "300"])
    job_id = denv.submit("q", "long")
    denv.wait_status(job_id, "RUNNING")
    label = f"batch-eks.local/state-dir={state_dir.resolve()}"
    wait_for(lambda: len(containers_labelled(label)) == 2, timeout=20, what="the sandbox and the container")
    denv.local.stop()
    assert containers_labelled(label) == []


def test_kill_9_of_the_engine_then_a_restart_leaves_nothing_in_docker(tmp_path, images):
    state_dir, port = tmp_path / "engine", free_port()
    label = f"batch-eks.local/state-dir={state_dir.resolve()}"
    first = serve(state_dir, port, *DOCKER_RUNTIME)
    second = None
    try:
        batch = aws_client("batch", first.url)
        batch.register_job_definition(
            jobDefinitionName="long", type="container",
            eksProperties={"podProperties": {"containers": [{
                "name": "app", "image": BUSYBOX_IMAGE, "command": ["sleep", "300"],
                "resources": {"limits": {"cpu": "0.25", "memory": "32Mi"}},
            }]}},
        )
        job_id = batch.submit_job(jobName="long", jobQueue="doeks-JQ1_OD", jobDefinition="long")["jobId"]
        wait_for_job(batch, job_id, ("RUNNING",), timeout=30)
        wait_for(lambda: [c["State"] for c in containers_labelled(label)] == ["running"] * 2, timeout=30,
                 what="the sandbox and the container to run")
        first.kill()
        left = containers_labelled(label)
        assert [c["State"] for c in left] == ["running"] * 2  # the daemon keeps what a dead engine started
        assert all(f"batch-eks.local/job-id={job_id}" in c["Labels"] for c in left)

        second = serve(state_dir, port, *DOCKER_RUNTIME, kubernetes_port=first.kubernetes_port)  # removes them before it runs anything
        assert containers_labelled(label) == []
        done = wait_for_job(batch, job_id, timeout=30)
        assert done["status"] == "FAILED" and done["statusReason"].startswith("Host EC2")
    finally:
        for engine in (first, second):
            if engine is not None:
                engine.stop(timeout=20)
        leftovers = [c["Names"] for c in containers_labelled(label)]
        if leftovers:  # do not leave them to the next run, then fail
            subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True, timeout=60)
    assert leftovers == []
