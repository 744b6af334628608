"""The batched deferrable trigger against the engine: one loop, ceil(N/100) DescribeJobs per cycle."""

from __future__ import annotations

import asyncio
import math
import re
import time

import pytest
import requests

from batch_eks_provider.triggers import poller as poller_module
from batch_eks_provider.triggers.batch import KILLED_REASON, BatchEksJobTrigger

from tests.helpers import wait_for_job

QUEUE = "doeks-JQ1_OD"
CE = "doeks-CE1_OD"
DEFINITION = "doeks-hello-world"


def describe_jobs_requests(engine) -> int:
    text = requests.get(f"{engine.url}/metrics", timeout=5).text
    total = 0
    for line in text.splitlines():
        if line.startswith("batch_eks_api_requests_total{") and 'operation="DescribeJobs"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def submit(batch, n: int, command: str = "echo x") -> list[str]:
    override = {"podProperties": {"containers": [{"command": ["sh", "-c", command], "args": []}]}}
    return [
        batch.submit_job(jobName=f"wait-{i}", jobQueue=QUEUE, jobDefinition=DEFINITION, eksPropertiesOverride=override)["jobId"]
        for i in range(n)
    ]


def test_serialize_round_trips_exactly():
    trigger = BatchEksJobTrigger(job_id="abc-123", aws_conn_id="batch_prod", region_name="eu-west-1", poll_interval=2.5)
    classpath, kwargs = trigger.serialize()
    assert (classpath, kwargs) == (
        "batch_eks_provider.triggers.batch.BatchEksJobTrigger",
        {"job_id": "abc-123", "aws_conn_id": "batch_prod", "region_name": "eu-west-1", "poll_interval": 2.5},
    )
    from airflow.sdk.module_loading import import_string

    rebuilt = import_string(classpath)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_500_deferred_jobs_share_one_loop_with_five_describe_calls_per_cycle(aws_default, batch):
    engine = aws_default
    batch.update_compute_environment(computeEnvironment=CE, state="DISABLED")
    job_ids = submit(batch, 500)

    async def scenario():
        triggers = [BatchEksJobTrigger(job_id=j, poll_interval=0.2) for j in job_ids]
        tasks = [asyncio.create_task(anext(t.run())) for t in triggers]
        await asyncio.sleep(0)
        (poller,) = poller_module.active_pollers()
        assert poller.waiting == 500
        before = describe_jobs_requests(engine)
        start_cycles = poller.stats.cycles
        deadline = time.monotonic() + 20
        while poller.stats.cycles < start_cycles + 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        cycles = poller.stats.cycles - start_cycles
        calls = describe_jobs_requests(engine) - before
        assert cycles >= 3
        # The metric may include one cycle in flight: calls <= 5 per cycle observed, plus at most one more cycle.
        assert calls <= math.ceil(500 / 100) * (cycles + 1)
        assert set(poller.stats.calls_per_cycle) == {5}
        # Every job ends: each task resumes within about one poll interval of its job's end.
        await asyncio.to_thread(lambda: [batch.terminate_job(jobId=j, reason="test over") for j in job_ids])
        ended_at = time.monotonic()
        events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=20)
        resumed_after = time.monotonic() - ended_at
        return events, resumed_after, poller

    events, resumed_after, poller = asyncio.run(scenario())
    assert {e.payload["status"] for e in events} == {"FAILED"}
    assert {e.payload["kind"] for e in events} == {"cancelled"}
    assert sorted(e.payload["job_id"] for e in events) == sorted(job_ids)
    assert resumed_after < 5
    assert poller.waiting == 0 and not poller.running  # the loop stopped with nothing to wait for


def test_a_finished_job_resumes_its_task_within_one_poll_interval(aws_default, batch):
    (job_id,) = submit(batch, 1)
    wait_for_job(batch, job_id)

    async def scenario():
        started = time.monotonic()
        event = await anext(BatchEksJobTrigger(job_id=job_id, poll_interval=5).run())
        return event, time.monotonic() - started

    event, took = asyncio.run(scenario())
    assert event.payload["status"] == "SUCCEEDED" and event.payload["kind"] == "succeeded"
    assert took < 2  # the first cycle runs at once, not after a poll interval


def test_throttling_slows_the_loop_down_instead_of_failing_tasks(aws_default, batch):
    engine = aws_default
    (job_id,) = submit(batch, 1, command="sleep 0.5")
    requests.post(f"{engine.url}/_local/faults", json={"throttle_rate": 1.0}, timeout=5).raise_for_status()

    async def scenario():
        task = asyncio.create_task(anext(BatchEksJobTrigger(job_id=job_id, poll_interval=0.2).run()))
        await asyncio.sleep(0)
        (poller,) = poller_module.active_pollers()
        deadline = time.monotonic() + 30
        while poller.stats.throttled_cycles < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not task.done()
        await asyncio.to_thread(
            lambda: requests.post(f"{engine.url}/_local/faults", json={"throttle_rate": 0.0}, timeout=5).raise_for_status()
        )
        return await asyncio.wait_for(task, timeout=30), poller.stats.throttled_cycles

    event, throttled = asyncio.run(scenario())
    assert throttled >= 2
    assert event.payload["status"] == "SUCCEEDED"


def test_an_unknown_job_ends_the_wait_with_an_error_event(aws_default):
    async def scenario():
        return await anext(BatchEksJobTrigger(job_id="no-such-job", poll_interval=0.05).run())

    event = asyncio.run(scenario())
    assert event.payload["status"] == "error"
    assert "no-such-job does not exist" in event.payload["message"]


def test_a_deferred_task_cleared_by_a_user_terminates_its_job(aws_default, batch, monkeypatch):
    """Drive Airflow's own TriggerRunner.run_trigger and cancel it as a user's clear/mark-failed does."""
    from airflow.jobs.triggerer_job_runner import _USER_ACTION_CANCEL_MSG, TriggerRunner

    (job_id,) = submit(batch, 1, command="sleep 60")
    wait_for_job(batch, job_id, statuses=("RUNNING",))

    async def scenario():
        runner = TriggerRunner()
        trigger = BatchEksJobTrigger(job_id=job_id, poll_interval=0.2)
        runner.triggers[1] = {"task": None, "name": "deferred-task", "events": 0, "is_watcher": False}
        task = asyncio.create_task(runner.run_trigger(1, trigger))
        runner.triggers[1]["task"] = task
        await asyncio.sleep(0.5)
        assert not task.done()
        task.cancel(_USER_ACTION_CANCEL_MSG)
        with pytest.raises(asyncio.CancelledError):
            await task

    monkeypatch.setenv("AIRFLOW_DISABLE_GREENBACK_PORTAL", "true")
    asyncio.run(scenario())
    job = wait_for_job(batch, job_id)
    assert job["status"] == "FAILED"
    assert job["isTerminated"] is True
    assert re.search(re.escape(KILLED_REASON), job["statusReason"])
