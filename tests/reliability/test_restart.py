"""The engine stopped (or killed with kill -9) while jobs run, and started again on the same state directory and port.

Nothing may be lost (job definitions, queues, every job, a finished job's result, a pending dependency),
and the attempts that were running when it stopped died with their node: they are retried per their
strategy, so with ``RetryStrategy.spot_only(2)`` each succeeds on its second attempt.
"""

from __future__ import annotations

import time

import pytest

from batch_eks_provider.local import LocalEngine
from batch_eks_provider.retry_strategy import RetryStrategy
from tests.support.waits import wait_for, wait_for_job
from tests.support.aws import aws_client
from tests.support.processes import alive, kill_all, live_processes, process_group, wait_gone
from tests.support.served_engine import free_port, serve

from .conftest import scaled

DEFINITION = "reliability-restart-sleep"
# Each attempt runs a leader (sh), a background child and a double-forked daemon, each findable in /proc by
# its argv: ``sleep 70<attempt>1`` (the daemon), ``70<attempt>2`` (the child), ``70<attempt>3`` (the foreground one,
# which sh may exec into: then it is the leader).
CRASH_COMMAND = "echo started; (setsid sleep 70${AWS_BATCH_JOB_ATTEMPT}1 &) ; sleep 70${AWS_BATCH_JOB_ATTEMPT}2 & sleep 70${AWS_BATCH_JOB_ATTEMPT}3"


def _statuses(batch, job_ids: list[str]) -> dict[str, str]:
    found = {}
    for start in range(0, len(job_ids), 100):
        found.update({j["jobId"]: j["status"] for j in batch.describe_jobs(jobs=job_ids[start : start + 100])["jobs"]})
    return found


@pytest.mark.timeout(600)
def test_engine_restart_loses_nothing_and_retries_running_attempts(tmp_path, reliability_report):
    running_jobs = scaled(4, 20)
    state_dir, port = tmp_path / "engine", free_port()
    first = LocalEngine(blueprint="data-on-eks", state_dir=state_dir, port=port).start()
    try:
        batch = aws_client("batch", first.url)
        batch.register_job_definition(
            jobDefinitionName=DEFINITION,
            type="container",
            eksProperties={
                "podProperties": {
                    "containers": [
                        {"name": "app", "image": "busybox", "command": ["sleep", "2"], "resources": {"limits": {"cpu": "0.25", "memory": "16Mi"}}}
                    ]
                }
            },
        )
        finished = batch.submit_job(jobName="before-restart", jobQueue="doeks-JQ1_OD", jobDefinition="doeks-hello-world")["jobId"]
        wait_for_job(batch, finished)
        retry = RetryStrategy.spot_only(2).to_api()
        running = [
            batch.submit_job(jobName=f"restart-{i}", jobQueue="doeks-JQ1_SPOT", jobDefinition=DEFINITION, retryStrategy=retry)["jobId"]
            for i in range(running_jobs)
        ]
        dependent = batch.submit_job(
            jobName="after-dependency", jobQueue="doeks-JQ1_OD", jobDefinition="doeks-hello-world", dependsOn=[{"jobId": running[0]}]
        )["jobId"]
        wait_for(lambda: set(_statuses(batch, running).values()) == {"RUNNING"}, timeout=30, what="the jobs to be RUNNING")
        assert _statuses(batch, [dependent]) == {dependent: "PENDING"}
    finally:
        first.stop()

    second = LocalEngine(state_dir=state_dir, port=port).start()  # no blueprint: everything must come from the state
    try:
        batch = aws_client("batch", second.url)
        definitions = {d["jobDefinitionName"] for d in batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]}
        queues = {q["jobQueueName"] for q in batch.describe_job_queues()["jobQueues"]}
        all_jobs = [finished, *running, dependent]
        present = _statuses(batch, all_jobs)
        assert {DEFINITION, "doeks-hello-world"} <= definitions
        assert {"doeks-JQ1_OD", "doeks-JQ1_SPOT"} <= queues
        assert set(present) == set(all_jobs), f"jobs lost in the restart: {set(all_jobs) - set(present)}"
        assert present[finished] == "SUCCEEDED"

        ended = {job_id: wait_for_job(batch, job_id, timeout=60) for job_id in [*running, dependent]}
        attempts = {job_id: len(job.get("eksAttempts") or []) for job_id, job in ended.items()}
        first_reasons = {job_id: (ended[job_id].get("eksAttempts") or [{}])[0].get("statusReason") or "" for job_id in running}
        reliability_report(
            f"restart: {running_jobs} running jobs + 1 pending dependent + 1 finished; engine stopped and started on the same "
            f"state dir and port; {len(definitions)} definitions, {len(queues)} queues, {len(present)}/{len(all_jobs)} jobs "
            f"kept; running jobs: {sum(1 for j in running if ended[j]['status'] == 'SUCCEEDED')}/{running_jobs} SUCCEEDED, "
            f"attempts {sorted(attempts[j] for j in running)}; dependent {ended[dependent]['status']}"
        )
        assert all(ended[j]["status"] == "SUCCEEDED" for j in running), {j: ended[j]["status"] for j in running}
        assert all(attempts[j] == 2 for j in running), attempts
        assert all(reason.startswith("Host EC2") for reason in first_reasons.values()), first_reasons
        assert ended[dependent]["status"] == "SUCCEEDED"
    finally:
        second.stop()


def _attempt_argvs(attempt: int) -> dict[str, list[str]]:
    """The argv of each process of one attempt of ``CRASH_COMMAND``, by role."""
    return {role: ["sleep", f"70{attempt}{n}"] for n, role in enumerate(("daemon", "child", "foreground"), start=1)}


def _attempt_processes(attempt: int) -> dict[str, list[int]]:
    return {role: live_processes(argv) for role, argv in _attempt_argvs(attempt).items()}


@pytest.mark.timeout(120)
def test_kill_9_of_the_engine_leaves_no_job_process_and_runs_no_job_twice(tmp_path, reliability_report):
    state_dir, port = tmp_path / "engine", free_port()
    first = serve(state_dir, port)
    second = None
    try:
        batch = aws_client("batch", first.url)
        batch.register_job_definition(
            jobDefinitionName="crash-tree",
            type="container",
            eksProperties={"podProperties": {"containers": [{
                "name": "app", "image": "busybox", "command": ["sh", "-c", CRASH_COMMAND],
                "resources": {"limits": {"cpu": "0.25", "memory": "64Mi"}},
            }]}},
        )
        job_id = batch.submit_job(
            jobName="crash", jobQueue="doeks-JQ1_OD", jobDefinition="crash-tree", retryStrategy={"attempts": 2}
        )["jobId"]
        wait_for(lambda: all(_attempt_processes(1).values()), timeout=30, what="the first attempt's processes to run")
        # the job is RUNNING as an API answer says (every answer is written to the state dir before it leaves)
        wait_for(lambda: batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"] == "RUNNING", timeout=10, what="RUNNING")
        before = _attempt_processes(1)
        (foreground,) = before["foreground"]
        leader = process_group(foreground)  # the container's leader (sh, or the sleep it exec'd into)

        first.kill()
        killed_at = time.monotonic()
        # while the engine is dead: its leader died with it (PR_SET_PDEATHSIG); the rest waits for the restart
        wait_for(lambda: not alive(leader), timeout=5, what="the leader to die with the engine")
        leader_gone_s = time.monotonic() - killed_at
        assert _attempt_processes(1)["daemon"], "the setsid daemon is expected to wait for the restart"

        restart_at = time.monotonic()
        second = serve(state_dir, port, kubernetes_port=first.kubernetes_port)
        serving_s = time.monotonic() - restart_at
        # the engine kills the previous run's processes before it serves: none is alive once it answers
        left = {k: v for k, v in _attempt_processes(1).items() if v}
        assert not left, f"processes of the killed engine's attempt still alive after the restart: {left} (were {before})"

        batch = aws_client("batch", second.url)
        wait_for(lambda: all(_attempt_processes(2).values()), timeout=30, what="the retry's processes to run")
        job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        assert job["status"] == "RUNNING"
        assert len(job["eksAttempts"]) == 1
        assert job["eksAttempts"][0]["statusReason"].startswith("Host EC2 (instance "), job["eksAttempts"][0]
        # exactly one attempt runs: the retry's tree, once; nothing of the first
        assert {k: len(v) for k, v in _attempt_processes(2).items()} == {"daemon": 1, "child": 1, "foreground": 1}
        assert not any(_attempt_processes(1).values())
        reliability_report(
            f"kill -9: engine SIGKILLed with 1 running attempt (leader + child + setsid daemon); leader gone "
            f"{leader_gone_s * 1000:.0f} ms after the kill (PDEATHSIG); restart served after {serving_s:.2f} s with no old "
            f"process alive; the retry runs alone (attempt 1: Host EC2 ... terminated.)"
        )
        batch.terminate_job(jobId=job_id, reason="test over")
        assert wait_for_job(batch, job_id, timeout=30)["status"] == "FAILED"
        wait_gone(*_attempt_argvs(2).values(), timeout=10, what="the retry's processes to end")
    finally:
        for engine in (first, second):
            if engine is not None:
                engine.stop()
        kill_all(*_attempt_argvs(1).values(), *_attempt_argvs(2).values())
