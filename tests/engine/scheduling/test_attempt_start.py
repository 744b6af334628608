"""A job is STARTING until its pod's containers have started, as Batch counts image pulls and init containers,
and RUNNING (``startedAt``) from then on; the attempt's timeout counts from RUNNING; an attempt that never got
its containers started has no ``startedAt``. Seen through boto3 and the Kubernetes client (process runtime)."""

from __future__ import annotations

import time

from tests.engine.scheduling.kubernetes_client import core_v1, kubectl_row

NAMESPACE = "batch-jobs"
GATED_INIT = 'echo waiting; until [ -e "$GATE" ]; do sleep 0.05; done'


def _pod(env, job: dict):
    return core_v1(env).read_namespaced_pod(job["eksProperties"]["podProperties"]["podName"], NAMESPACE)


def _gated(env, tmp_path, name: str = "gated") -> str:
    """A definition whose init container waits for ``tmp_path/<name>.open``, then whose container prints."""
    gate = tmp_path / f"{name}.open"
    init = {"name": "wait", "image": "busybox", "command": ["sh", "-c", GATED_INIT],
            "env": [{"name": "GATE", "value": str(gate)}],
            "resources": {"limits": {"cpu": "0.25", "memory": "32Mi"}}}
    env.definition(name, ["sh", "-c", "echo main; sleep 30"], pod={"initContainers": [init]})
    return name


def test_a_job_is_starting_while_its_init_container_runs_and_running_once_its_containers_start(env, tmp_path):
    job_id = env.submit("q", _gated(env, tmp_path))
    env.wait_for_output(job_id, "waiting", container="wait")
    job = env.job(job_id)
    assert job["status"] == "STARTING" and "startedAt" not in job
    pod = _pod(env, job)
    assert pod.status.phase == "Pending"
    (init,) = pod.status.init_container_statuses
    (main,) = pod.status.container_statuses
    assert (init.state.waiting.reason, main.state.waiting.reason) == ("PodInitializing", "PodInitializing")
    initialized = {c.type: c.status for c in pod.status.conditions}["Initialized"]
    assert initialized == "False"
    assert kubectl_row(env, pod.metadata.name)[1:3] == ["0/1", "Init:0/1"]  # READY, STATUS

    opened_at = int(time.time() * 1000)
    (tmp_path / "gated.open").touch()
    running = env.wait_status(job_id, "RUNNING")
    assert running["startedAt"] >= opened_at
    pod = _pod(env, running)
    assert pod.status.phase == "Running"
    (init,) = pod.status.init_container_statuses
    assert (init.state.terminated.exit_code, init.state.terminated.reason) == (0, "Completed")
    assert pod.status.container_statuses[0].state.running is not None
    assert {c.type: c.status for c in pod.status.conditions}["Initialized"] == "True"
    assert kubectl_row(env, pod.metadata.name)[1:3] == ["1/1", "Running"]
    env.batch.terminate_job(jobId=job_id, reason="done")
    done = env.wait(job_id)
    assert done["eksAttempts"][0]["startedAt"] == running["startedAt"]


def test_the_attempt_timeout_counts_from_running_not_from_starting(manual, tmp_path):
    job_id = manual.submit("q", _gated(manual, tmp_path), timeout={"attemptDurationSeconds": 60})
    manual.wait_for_output(job_id, "waiting", container="wait")
    manual.advance(120)  # twice the timeout while STARTING (an init container, a slow pull)
    manual.settle()
    assert manual.job(job_id)["status"] == "STARTING"
    (tmp_path / "gated.open").touch()
    manual.wait_for_output(job_id, "main")
    assert manual.job(job_id)["status"] == "RUNNING"
    manual.advance(59)
    manual.settle()
    assert manual.job(job_id)["status"] == "RUNNING"
    manual.advance(2)
    done = manual.wait(job_id)
    assert (done["status"], done["statusReason"]) == ("FAILED", "Job attempt duration exceeded timeout")


def test_an_attempt_whose_container_never_started_has_no_started_at(env):
    env.definition("missing", ["/nonexistent/train"])
    done = env.wait(env.submit("q", "missing", retryStrategy={"attempts": 2}))
    assert done["status"] == "FAILED"
    assert [a["containers"][0]["reason"] for a in done["eksAttempts"]] == ["ContainerCannotRun"] * 2
    assert "startedAt" not in done
    assert all("startedAt" not in a and a["stoppedAt"] >= done["createdAt"] for a in done["eksAttempts"])


def test_a_retry_after_a_running_attempt_has_the_start_of_each_attempt(env):
    env.definition("flaky", ["sh", "-c", '[ "$AWS_BATCH_JOB_ATTEMPT" -ge 2 ]'])
    done = env.wait(env.submit("q", "flaky", retryStrategy={"attempts": 2}))
    assert done["status"] == "SUCCEEDED"
    first, second = done["eksAttempts"]
    assert first["startedAt"] <= first["stoppedAt"] <= second["startedAt"] <= second["stoppedAt"]
    assert done["startedAt"] == second["startedAt"]
