"""Pods as local processes: memory limits, missing commands, several containers, init containers, env."""

from __future__ import annotations

import sys

import pytest

from tests.support.waits import wait_for

ALLOCATE_200MB = [sys.executable, "-c", "import time; b = bytearray(200 * 1024 * 1024); time.sleep(5)"]


def test_a_container_over_its_memory_limit_is_oom_killed(env):
    env.definition("hog", ALLOCATE_200MB, memory="64Mi")
    done = env.wait(env.submit("q", "hog"))
    assert done["status"] == "FAILED"
    container = done["eksAttempts"][0]["containers"][0]
    assert (container["exitCode"], container["reason"]) == (137, "OOMKilled")
    assert done["statusReason"] == "Essential container in pod exited"


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
    assert done["statusReason"] == "Essential container in pod exited"
    assert "has no command or args" in env.attempt_output(done["eksAttempts"][0])[0]


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
    assert done["statusReason"] == "Essential container in pod exited"
    assert env.attempt_output(attempt, "main") == ["ready"]


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
    assert done["statusReason"] == "Essential container in pod exited"


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


def test_a_container_without_a_name_reports_its_exit_code_in_describe_jobs(env):
    """The definition calls it ``Default``, the pod ``default``; DescribeJobs still joins the two."""
    env.batch.register_job_definition(
        jobDefinitionName="unnamed",
        type="container",
        eksProperties={"podProperties": {"containers": [
            {"image": "busybox", "command": ["sh", "-c", "exit 3"], "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}]}},
    )
    done = env.wait(env.submit("q", "unnamed"))
    (container,) = done["eksProperties"]["podProperties"]["containers"]
    assert (container["name"], container["exitCode"], container["reason"]) == ("Default", 3, "Error")


def test_a_command_the_os_cannot_start_fails_the_attempt_instead_of_running_for_ever(env):
    env.definition("nul", ["echo", "a\x00b"])  # Popen raises ValueError (embedded NUL byte), not OSError
    done = env.wait(env.submit("q", "nul"), timeout=10)
    assert done["status"] == "FAILED"
    container = done["eksAttempts"][0]["containers"][0]
    assert (container["exitCode"], container["reason"]) == (128, "ContainerCannotRun")
    assert env.engine.scheduler.runtime.runs == {}


@pytest.mark.parametrize("name", ["A=B", "A\x00B"])
def test_an_environment_variable_name_popen_cannot_pass_is_rejected_at_registration(env, name):
    with pytest.raises(env.batch.exceptions.ClientException, match="cannot contain '=' or a NUL"):
        env.batch.register_job_definition(
            jobDefinitionName="bad-env",
            type="container",
            eksProperties={"podProperties": {"containers": [{
                "name": "main", "image": "busybox", "command": ["true"], "env": [{"name": name, "value": "1"}],
                "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}]}},
        )


def _alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting for its parent."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_background_processes_die_with_their_container(env):
    env.definition("daemon", ["sh", "-c", 'sleep 300 & echo "child $!"'])
    done = env.wait(env.submit("q", "daemon"))
    assert done["status"] == "SUCCEEDED"
    (line,) = env.attempt_output(done["eksAttempts"][0])
    child = int(line.split()[1])
    wait_for(lambda: not _alive(child), timeout=5, what=f"background child {child} killed")
