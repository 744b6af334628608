"""The sensors poked against the local engine: what each passes on, fails on (with the typed error), says while
it waits, and hands to the trigger when deferrable."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import TaskDeferred

from batch_eks_provider.exceptions import (
    BatchEksComputeEnvironmentError,
    BatchEksError,
    BatchEksExitCodeError,
    BatchEksPermanentExitCodeError,
    BatchEksQueueUnavailableError,
)
from batch_eks_provider.sensors.batch import BatchEksComputeEnvironmentSensor, BatchEksJobQueueSensor, BatchEksJobSensor
from tests.support.waits import wait_for_job

QUEUE = "doeks-JQ1_OD"


def submit(batch, script: str, name: str = "sensed", cpu: str = "0.25") -> str:
    override = {"podProperties": {"containers": [{"command": ["sh", "-c", script], "args": [], "resources": {"limits": {"cpu": cpu, "memory": "16Mi"}}}]}}
    return batch.submit_job(jobName=name, jobQueue=QUEUE, jobDefinition="doeks-hello-world", eksPropertiesOverride=override)["jobId"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_job_sensor_passes_on_success_and_raises_the_typed_error_on_failure(aws_default, batch):
    ok = wait_for_job(batch, submit(batch, "echo ok"))
    assert BatchEksJobSensor(task_id="ok", job_id=ok["jobId"]).poke({}) is True
    failed = wait_for_job(batch, submit(batch, "exit 4"))
    with pytest.raises(BatchEksExitCodeError) as raised:
        BatchEksJobSensor(task_id="failed", job_id=failed["jobId"]).poke({})
    assert raised.value.exit_code == 4 and f"({failed['jobId']}) failed after 1 attempt(s)" in str(raised.value)
    with pytest.raises(BatchEksPermanentExitCodeError):
        BatchEksJobSensor(task_id="permanent", job_id=failed["jobId"], permanent_exit_codes=[4]).poke({})


def test_a_job_the_api_does_not_know_fails_after_three_readings_as_in_every_waiter(aws_default):
    sensor = BatchEksJobSensor(task_id="missing", job_id="no-such-job")
    assert sensor.poke({}) is False
    assert sensor.poke({}) is False
    with pytest.raises(BatchEksError, match=r"AWS Batch job no-such-job does not exist \(DescribeJobs did not know it 3 time\(s\) in a row\)"):
        sensor.poke({})


def test_the_job_sensor_says_why_the_job_waits(aws_default, batch, capfd):
    batch.update_compute_environment(computeEnvironment="doeks-CE1_OD", computeResources={"maxvCpus": 2})
    holders = [submit(batch, "sleep 300", f"holder{i}", cpu="1") for i in range(2)]
    for holder in holders:
        wait_for_job(batch, holder, statuses=("RUNNING",))
    waiting = wait_for_job(batch, submit(batch, "echo late", "late", cpu="1"), statuses=("RUNNABLE",))
    sensor = BatchEksJobSensor(task_id="watch", job_id=waiting["jobId"], explain_after=60)
    clock = Clock()
    sensor.wait_clock = clock
    capfd.readouterr()
    assert sensor.poke({}) is False
    clock.now = 59
    assert sensor.poke({}) is False
    assert "has been RUNNABLE" not in capfd.readouterr().out
    clock.now = 61
    assert sensor.poke({}) is False
    out = capfd.readouterr().out
    assert f"AWS Batch job late ({waiting['jobId']}) has been RUNNABLE for 1m 01s: its compute environments are at maxvCpus (2 of 2 vCPUs in use); it is first in the queue" in out, out
    for job_id in [*holders, waiting["jobId"]]:
        batch.terminate_job(jobId=job_id, reason="test over")


def test_a_deferrable_job_sensor_hands_its_wait_and_explain_rule_to_the_trigger(aws_default, batch):
    job_id = submit(batch, "sleep 300", "long")
    sensor = BatchEksJobSensor(task_id="deferred", job_id=job_id, deferrable=True, poll_interval=2, explain_after=120, kubernetes_conn_id="in_cluster")
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["job_id"] == job_id and kwargs["poll_interval"] == 2.0 and kwargs["terminate_on_kill"] is False
    assert kwargs["rules"] == {"explain_after": 120.0, "on_stuck": None, "stuck_after": None, "max_spot_reclaims": None}
    assert kwargs["kubernetes_conn_id"] == "in_cluster"
    batch.terminate_job(jobId=job_id, reason="test over")


def test_the_compute_environment_sensor(aws_default, batch):
    assert BatchEksComputeEnvironmentSensor(task_id="ce", compute_environment="doeks-CE1_OD", state="ENABLED").poke({}) is True
    batch.update_compute_environment(computeEnvironment="doeks-CE1_OD", state="DISABLED")
    assert BatchEksComputeEnvironmentSensor(task_id="ce", compute_environment="doeks-CE1_OD", state="ENABLED").poke({}) is False
    assert BatchEksComputeEnvironmentSensor(task_id="ce", compute_environment="doeks-CE1_OD", state="DISABLED").poke({}) is True
    with pytest.raises(BatchEksComputeEnvironmentError, match="'no-such-ce' does not exist"):
        BatchEksComputeEnvironmentSensor(task_id="ce", compute_environment="no-such-ce").poke({})


def test_the_job_queue_sensor(aws_default, batch):
    assert BatchEksJobQueueSensor(task_id="q", job_queue=QUEUE).poke({}) is True
    batch.update_job_queue(jobQueue=QUEUE, state="DISABLED")
    assert BatchEksJobQueueSensor(task_id="q", job_queue=QUEUE).poke({}) is False
    with pytest.raises(BatchEksQueueUnavailableError, match="'no-such-queue' does not exist"):
        BatchEksJobQueueSensor(task_id="q", job_queue="no-such-queue").poke({})


def test_the_sensor_and_the_hook_share_one_readiness_rule():
    """DescribeComputeEnvironments entries in each status (the engine deletes at once, so DELETING is written here)."""
    from batch_eks_provider.hooks.compute_environment import compute_environment_ready

    def ce(status: str, state: str = "ENABLED") -> dict:
        return {"computeEnvironmentName": "ce", "computeEnvironmentArn": "arn:ce", "status": status, "state": state, "statusReason": "why"}

    assert compute_environment_ready(ce("VALID")) is True
    assert compute_environment_ready(ce("VALID", "DISABLED"), "ENABLED") is False
    assert compute_environment_ready(ce("UPDATING")) is False
    with pytest.raises(BatchEksComputeEnvironmentError, match=r"\(arn:ce\) is INVALID: why"):
        compute_environment_ready(ce("INVALID"))
    with pytest.raises(BatchEksComputeEnvironmentError, match="is DELETING; it will not become VALID"):
        compute_environment_ready(ce("DELETING"))
