"""The engine stopped while jobs run, and started again on the same state directory and port.

Nothing may be lost (job definitions, queues, every job, a finished job's result, a pending dependency),
and the attempts that were running when it stopped died with their node: they are retried per their
strategy, so with ``RetryStrategy.spot_only(2)`` each succeeds on its second attempt.
"""

from __future__ import annotations

import socket

import pytest

from batch_eks_provider.local import LocalEngine
from batch_eks_provider.retry import RetryStrategy
from tests.helpers import wait_for, wait_for_job

from .conftest import scaled

DEFINITION = "reliability-restart-sleep"


def _client(url: str):
    import boto3

    return boto3.client("batch", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _statuses(batch, job_ids: list[str]) -> dict[str, str]:
    found = {}
    for start in range(0, len(job_ids), 100):
        found.update({j["jobId"]: j["status"] for j in batch.describe_jobs(jobs=job_ids[start : start + 100])["jobs"]})
    return found


@pytest.mark.timeout(600)
def test_engine_restart_loses_nothing_and_retries_running_attempts(tmp_path, reliability_report):
    running_jobs = scaled(4, 20)
    state_dir, port = tmp_path / "engine", _free_port()
    first = LocalEngine(blueprint="data-on-eks", state_dir=state_dir, port=port).start()
    try:
        batch = _client(first.url)
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
        batch = _client(second.url)
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
