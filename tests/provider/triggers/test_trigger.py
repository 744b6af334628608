"""The batched deferrable trigger against the engine: one loop, ceil(N/100) DescribeJobs per cycle."""

from __future__ import annotations

import asyncio
import math
import re

import pytest
import requests

from batch_eks_provider.triggers import poller as poller_module
from batch_eks_provider.triggers.batch import KILLED_REASON, BatchEksJobTrigger

from tests.support.waits import wait_for_job
from tests.support.metrics import api_requests
from tests.support.provider import BOUND, Gate

QUEUE = "doeks-JQ1_OD"
CE = "doeks-CE1_OD"
DEFINITION = "doeks-hello-world"


def describe_jobs_requests(engine) -> int:
    return api_requests(engine.url, "DescribeJobs")


def submit(batch, n: int, command: str = "echo x") -> list[str]:
    override = {"podProperties": {"containers": [{"command": ["sh", "-c", command], "args": []}]}}
    return [
        batch.submit_job(jobName=f"wait-{i}", jobQueue=QUEUE, jobDefinition=DEFINITION, eksPropertiesOverride=override)["jobId"]
        for i in range(n)
    ]


def test_serialize_round_trips_exactly():
    from airflow.sdk.module_loading import import_string

    rules = {"explain_after": 120.0, "on_stuck": "fail", "stuck_after": 600.0, "max_spot_reclaims": 2}
    for terminate, rule_set in ((False, None), (True, rules)):
        trigger = BatchEksJobTrigger(
            job_id="abc-123",
            aws_conn_id="batch_prod",
            region_name="eu-west-1",
            poll_interval=2.5,
            terminate_on_kill=terminate,
            rules=rule_set,
            kubernetes_conn_id="in_cluster" if rule_set else None,
        )
        classpath, kwargs = trigger.serialize()
        assert (classpath, kwargs) == (
            "batch_eks_provider.triggers.batch.BatchEksJobTrigger",
            {
                "job_id": "abc-123",
                "aws_conn_id": "batch_prod",
                "region_name": "eu-west-1",
                "poll_interval": 2.5,
                "terminate_on_kill": terminate,
                "rules": rule_set,
                "kubernetes_conn_id": "in_cluster" if rule_set else None,
            },
        )
        rebuilt = import_string(classpath)(**kwargs)
        assert rebuilt.serialize() == (classpath, kwargs)
    assert BatchEksJobTrigger(job_id="x").terminate_on_kill is False  # watching is the default


def test_500_deferred_jobs_share_one_loop_with_five_describe_calls_per_cycle(aws_default, batch, monkeypatch):
    engine = aws_default
    batch.update_compute_environment(computeEnvironment=CE, state="DISABLED")  # jobs stay RUNNABLE
    job_ids = submit(batch, 500)
    gate = Gate()
    monkeypatch.setattr(poller_module, "sleep", gate)

    async def scenario():
        triggers = [BatchEksJobTrigger(job_id=j, poll_interval=0.2) for j in job_ids]
        tasks = [asyncio.create_task(anext(t.run())) for t in triggers]
        await gate.asleep(1)  # first cycle done, the loop sleeps: a cycle boundary
        (poller,) = poller_module.active_pollers()
        assert poller.waiting == 500
        before = await asyncio.to_thread(describe_jobs_requests, engine)
        for boundary in (2, 3, 4):
            gate.open()
            await gate.asleep(boundary)
        calls = await asyncio.to_thread(describe_jobs_requests, engine) - before
        assert poller.stats.cycles == 4
        # Every job ends: the very next cycle resumes every task.
        await asyncio.to_thread(lambda: [batch.terminate_job(jobId=j, reason="test over") for j in job_ids])
        gate.open()
        events = await asyncio.wait_for(asyncio.gather(*tasks), BOUND)
        return events, calls, poller

    events, calls, poller = asyncio.run(scenario())
    assert calls == math.ceil(500 / 100) * 3  # exactly, as the engine counted them, over three cycles
    assert poller.stats.cycles == 5  # one more cycle after the terminations, not more
    assert {e.payload["status"] for e in events} == {"FAILED"}
    assert {e.payload["kind"] for e in events} == {"cancelled"}
    assert sorted(e.payload["job_id"] for e in events) == sorted(job_ids)
    assert poller.waiting == 0 and not poller.running  # the loop stopped with nothing to wait for


def test_a_finished_job_resumes_its_task_in_the_first_cycle(aws_default, batch, monkeypatch):
    (job_id,) = submit(batch, 1)
    wait_for_job(batch, job_id)
    gate = Gate()
    monkeypatch.setattr(poller_module, "sleep", gate)

    async def scenario():
        return await asyncio.wait_for(anext(BatchEksJobTrigger(job_id=job_id, poll_interval=5).run()), BOUND)

    event = asyncio.run(scenario())
    assert event.payload["status"] == "SUCCEEDED" and event.payload["kind"] == "succeeded"
    assert gate.delays == []  # the first cycle runs at once, not after a poll interval


def test_throttling_slows_the_loop_down_instead_of_failing_tasks(aws_default, batch, monkeypatch):
    engine = aws_default
    (job_id,) = submit(batch, 1)
    wait_for_job(batch, job_id)
    requests.post(f"{engine.url}/_local/faults", json={"throttle_rate": 1.0}, timeout=5).raise_for_status()
    gate = Gate()
    monkeypatch.setattr(poller_module, "sleep", gate)

    async def scenario():
        task = asyncio.create_task(anext(BatchEksJobTrigger(job_id=job_id, poll_interval=0.2).run()))
        for cycle in (1, 2):
            await gate.asleep(cycle)
            assert not task.done()
            gate.open()
        await gate.asleep(3)
        (poller,) = poller_module.active_pollers()
        throttled = poller.stats.throttled_cycles
        await asyncio.to_thread(
            lambda: requests.post(f"{engine.url}/_local/faults", json={"throttle_rate": 0.0}, timeout=5).raise_for_status()
        )
        gate.open()
        return await asyncio.wait_for(task, BOUND), throttled

    event, throttled = asyncio.run(scenario())
    assert throttled == 3
    # backing off (the provider's one full-jitter backoff, never below the poll interval), never failing the task
    assert len(gate.delays) == 3 and gate.delays[0] == 0.2
    assert all(0.2 <= delay <= 0.2 * 2**n for n, delay in enumerate(gate.delays)), gate.delays
    assert event.payload["status"] == "SUCCEEDED"


def test_an_unknown_job_ends_the_wait_with_an_error_event(aws_default):
    async def scenario():
        return await anext(BatchEksJobTrigger(job_id="no-such-job", poll_interval=0.05).run())

    event = asyncio.run(scenario())
    assert event.payload["status"] == "error"
    assert "no-such-job does not exist" in event.payload["message"]


async def wait_until_waited_on(jobs: int) -> None:
    async def reached() -> None:
        while sum(p.waiting for p in poller_module.active_pollers()) < jobs:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(reached(), BOUND)


@pytest.mark.parametrize("terminate_on_kill", [True, False], ids=["operator", "sensor"])
def test_a_deferred_task_cleared_by_a_user_terminates_only_a_job_it_owns(aws_default, batch, monkeypatch, terminate_on_kill):
    """Drive Airflow's own TriggerRunner.run_trigger and cancel it as a user's clear/mark-failed does: the
    operator's trigger terminates its job, a sensor's trigger (it only watches) leaves the job running."""
    from airflow.jobs.triggerer_job_runner import _USER_ACTION_CANCEL_MSG, TriggerRunner

    (job_id,) = submit(batch, 1, command="sleep 60")
    wait_for_job(batch, job_id, statuses=("RUNNING",))

    async def scenario():
        runner = TriggerRunner()
        trigger = BatchEksJobTrigger(job_id=job_id, poll_interval=0.2, terminate_on_kill=terminate_on_kill)
        runner.triggers[1] = {"task": None, "name": "deferred-task", "events": 0, "is_watcher": False}
        task = asyncio.create_task(runner.run_trigger(1, trigger))
        runner.triggers[1]["task"] = task
        await wait_until_waited_on(1)
        assert not task.done()
        task.cancel(_USER_ACTION_CANCEL_MSG)
        with pytest.raises(asyncio.CancelledError):
            await task

    monkeypatch.setenv("AIRFLOW_DISABLE_GREENBACK_PORTAL", "true")
    asyncio.run(scenario())
    if not terminate_on_kill:
        (job,) = batch.describe_jobs(jobs=[job_id])["jobs"]
        assert job["status"] == "RUNNING"  # on_kill has returned: the watched job is untouched
        batch.terminate_job(jobId=job_id, reason="test over")
        return
    job = wait_for_job(batch, job_id)
    assert job["status"] == "FAILED"
    assert job["isTerminated"] is True
    assert re.search(re.escape(KILLED_REASON), job["statusReason"])
