"""Pods as local processes: memory limits, missing commands, several containers, init containers, env."""

from __future__ import annotations

import sys

ALLOCATE_200MB = [sys.executable, "-c", "import time; b = bytearray(200 * 1024 * 1024); time.sleep(5)"]


def test_a_container_over_its_memory_limit_is_oom_killed(env):
    env.definition("hog", ALLOCATE_200MB, memory="64Mi")
    done = env.wait(env.submit("q", "hog"))
    assert done["status"] == "FAILED"
    container = done["eksAttempts"][0]["containers"][0]
    assert (container["exitCode"], container["reason"]) == (137, "OOMKilled")
    assert "OOMKilled" in done["statusReason"]


def test_a_container_without_a_command_fails_its_attempt_at_once(env):
    env.batch.register_job_definition(
        jobDefinitionName="no-command",
        type="container",
        eksProperties={"podProperties": {"containers": [
            {"name": "main", "image": "busybox", "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}]}},
    )
    done = env.wait(env.submit("q", "no-command"), timeout=10)
    assert done["status"] == "FAILED"
    container = done["eksAttempts"][0]["containers"][0]
    assert container["reason"] == "ContainerCannotRun"
    assert "no command" in done["statusReason"]


def test_every_container_must_succeed_and_init_containers_run_first(env):
    pod = {
        "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c", "echo ready > marker"],
                            "resources": {"limits": {"cpu": "0.25", "memory": "16Mi"}}}],
        "containers": [
            {"name": "main", "image": "busybox", "command": ["sh", "-c", "cat marker"],
             "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}},
            {"name": "sidecar", "image": "busybox", "command": ["sh", "-c", "exit 4"],
             "resources": {"limits": {"cpu": "0.5", "memory": "32Mi"}}},
        ],
    }
    env.batch.register_job_definition(jobDefinitionName="multi", type="container", eksProperties={"podProperties": pod})
    done = env.wait(env.submit("q", "multi"))
    assert done["status"] == "FAILED"
    attempt = done["eksAttempts"][0]
    assert [(c["name"], c["exitCode"]) for c in attempt["containers"]] == [("main", 0), ("sidecar", 4)]
    assert [(c["name"], c["exitCode"]) for c in attempt["initContainers"]] == [("init", 0)]
    assert "sidecar" in done["statusReason"]
    main_lines = [line.message for line in env.engine.logs.lines[(attempt["podName"], "main")]]
    assert main_lines == ["ready"]


def test_a_failing_init_container_stops_the_pod_before_the_containers(env):
    pod = {
        "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c", "exit 9"],
                            "resources": {"limits": {"cpu": "0.25", "memory": "16Mi"}}}],
        "containers": [{"name": "main", "image": "busybox", "command": ["touch", "ran"],
                        "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}],
    }
    env.batch.register_job_definition(jobDefinitionName="init-fails", type="container", eksProperties={"podProperties": pod})
    done = env.wait(env.submit("q", "init-fails"))
    assert done["status"] == "FAILED"
    assert done["eksAttempts"][0]["initContainers"][0]["exitCode"] == 9
    assert done["eksAttempts"][0]["containers"] == []
    assert done["statusReason"].startswith("Init container")


def test_batch_sets_its_environment_variables(env):
    env.definition("env", ["env"], pod={}, retryStrategy={"attempts": 2})
    job_id = env.submit("q", "env", eksPropertiesOverride={"podProperties": {"containers": [
        {"env": [{"name": "GREETING", "value": "hi"}]}]}})
    done = env.wait(job_id)
    variables = env.env_of(done)
    node = env.engine.state.nodes[done["eksAttempts"][0]["nodeName"]]
    assert variables["AWS_BATCH_JOB_ID"] == job_id
    assert variables["AWS_BATCH_JOB_ATTEMPT"] == "1"
    assert variables["AWS_BATCH_JQ_NAME"] == "q"
    assert variables["AWS_BATCH_CE_NAME"] == "ce"
    assert variables["AWS_BATCH_JOB_KUBERNETES_NODE_UID"] == node.uid
    assert variables["GREETING"] == "hi"
    assert "AWS_BATCH_JOB_ARRAY_INDEX" not in variables
