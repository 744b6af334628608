"""The shared poll loop's fault handling, cancellation and client sharing, against the engine.

Time never passes for real here: the loop's sleep is a :class:`Gate` the test opens one cycle at a time,
so every assertion is about cycles and calls. The boto3 client is the real one against the engine; where
AWS behaviour the engine does not have is needed (a rejected id, an expired token), a thin wrapper raises
the error AWS would, at the API boundary.
"""

from __future__ import annotations

import asyncio

import pytest
from botocore.exceptions import ClientError

from batch_eks_provider.triggers import poller as poller_module
from batch_eks_provider.waiting import policy
from batch_eks_provider.triggers.poller import FAILING_CYCLES_LIMIT, JobPoller, JobPollerError
from tests.support.waits import wait_for_job
from tests.support.provider import BOUND, Gate

QUEUE = "doeks-JQ1_OD"
CE = "doeks-CE1_OD"
DEFINITION = "doeks-hello-world"


def submit(batch, n: int) -> list[str]:
    override = {"podProperties": {"containers": [{"command": ["sh", "-c", "echo x"], "args": []}]}}
    return [
        batch.submit_job(jobName=f"poll-{i}", jobQueue=QUEUE, jobDefinition=DEFINITION, eksPropertiesOverride=override)["jobId"]
        for i in range(n)
    ]


class Recording:
    """The engine's boto3 client, recording each DescribeJobs call's ids; ``fail(ids)`` may raise instead."""

    def __init__(self, client, fail=None) -> None:
        self.client, self.fail, self.calls = client, fail, []

    def describe_jobs(self, jobs):
        self.calls.append(list(jobs))
        error = self.fail(list(jobs), len(self.calls)) if self.fail else None
        if error is not None:
            raise error
        return self.client.describe_jobs(jobs=jobs)


def hook_on(client):
    """The provider's Batch hook, its boto3 client replaced by ``client`` (the poller calls AWS through it)."""
    from batch_eks_provider.hooks.batch import BatchEksHook

    hook = BatchEksHook(aws_conn_id="aws_default")
    hook.__dict__["conn"] = client  # ``conn`` is a cached property
    return hook


def client_error(code: str, message: str = "rejected") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeJobs")


@pytest.fixture
def low_floor(monkeypatch):
    monkeypatch.setattr(policy, "MIN_POLL_INTERVAL", 0.01)


def test_one_rejected_id_fails_only_its_waiter(aws_default, batch, low_floor):
    good = submit(batch, 3)
    for job_id in good:
        wait_for_job(batch, job_id)
    recording = Recording(batch, fail=lambda ids, _: client_error("ClientException") if "bad id" in ids else None)

    async def scenario():
        gate = Gate()
        poller = JobPoller(("aws_default", None), hook_factory=lambda: hook_on(recording), sleep=gate)
        waits = [asyncio.ensure_future(poller.wait(j, 1)) for j in [*good, "bad id"]]
        return await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), BOUND)

    results = asyncio.run(scenario())
    assert [r["status"] for r in results[:3]] == ["SUCCEEDED"] * 3
    assert isinstance(results[3], JobPollerError) and "bad id" in str(results[3])
    # [a, b, c, bad] fails -> [a, b] ok, [c, bad] fails -> [c] ok, [bad] fails: five calls, one cycle.
    assert recording.calls == [[*good, "bad id"], good[:2], [good[2], "bad id"], [good[2]], ["bad id"]]


def test_an_expired_token_renews_the_hook_and_only_fails_after_repeated_cycles(aws_default, batch, low_floor):
    (job_id,) = submit(batch, 1)
    wait_for_job(batch, job_id)
    made: list[Recording] = []

    def factory(fail_calls: int):
        def make():
            made.append(Recording(batch, fail=lambda _, n: client_error("ExpiredTokenException") if len(made) <= fail_calls else None))
            return hook_on(made[-1])

        return make

    async def scenario(fail_calls: int):
        gate = Gate()
        poller = JobPoller(("aws_default", None), hook_factory=factory(fail_calls), sleep=gate)
        waiter = asyncio.ensure_future(poller.wait(job_id, 1))
        for cycle in range(1, min(fail_calls, FAILING_CYCLES_LIMIT - 1) + 1):
            await gate.asleep(cycle)
            assert not waiter.done()
            gate.open()
        return await asyncio.wait_for(asyncio.gather(waiter, return_exceptions=True), BOUND), poller.stats

    (result,), stats = asyncio.run(scenario(FAILING_CYCLES_LIMIT - 1))
    assert result["status"] == "SUCCEEDED"
    assert len(made) == FAILING_CYCLES_LIMIT  # a new hook (and client) after each failing cycle
    assert stats.failed_cycles == FAILING_CYCLES_LIMIT - 1

    made.clear()
    (result,), stats = asyncio.run(scenario(FAILING_CYCLES_LIMIT + 5))
    assert isinstance(result, JobPollerError) and "ExpiredTokenException" in str(result)
    assert stats.failed_cycles == FAILING_CYCLES_LIMIT  # failed at the K-th failing cycle, not the first


def test_an_unreadable_entry_fails_its_own_waiter_and_a_dead_loop_fails_the_rest(aws_default, batch, low_floor):
    good, odd = submit(batch, 2)
    for job_id in (good, odd):
        wait_for_job(batch, job_id)

    class Mangled(Recording):
        def describe_jobs(self, jobs):
            answer = super().describe_jobs(jobs)
            return {"jobs": [{"jobId": j["jobId"]} if j["jobId"] == odd else j for j in answer["jobs"]]}

    async def mangled():
        poller = JobPoller(("aws_default", None), hook_factory=lambda: hook_on(Mangled(batch)), sleep=Gate())
        return await asyncio.wait_for(
            asyncio.gather(poller.wait(good, 1), poller.wait(odd, 1), return_exceptions=True), BOUND
        )

    first, second = asyncio.run(mangled())
    assert first["status"] == "SUCCEEDED"
    assert isinstance(second, JobPollerError) and odd in str(second)

    async def broken_sleep(_delay):
        raise RuntimeError("the loop broke")

    async def dead_loop():
        batch.update_compute_environment(computeEnvironment=CE, state="DISABLED")
        (waiting,) = await asyncio.to_thread(submit, batch, 1)
        poller = JobPoller(("aws_default", None), hook_factory=lambda: hook_on(Recording(batch)), sleep=broken_sleep)
        result = await asyncio.wait_for(asyncio.gather(poller.wait(waiting, 1), return_exceptions=True), BOUND)
        return result, poller

    (result,), poller = asyncio.run(dead_loop())
    assert isinstance(result, JobPollerError) and "poll loop stopped" in str(result)
    assert not poller.running


def test_cancelling_waiters_drops_their_ids_and_the_last_one_ends_the_loop(aws_default, batch, low_floor):
    batch.update_compute_environment(computeEnvironment=CE, state="DISABLED")
    kept, dropped = submit(batch, 2)
    recording = Recording(batch)

    async def scenario():
        gate = Gate()
        poller = JobPoller(("aws_default", None), hook_factory=lambda: hook_on(recording), sleep=gate)
        waits = {j: asyncio.ensure_future(poller.wait(j, 1)) for j in (kept, dropped)}
        await gate.asleep(1)
        assert recording.calls[-1] == [kept, dropped]
        waits[dropped].cancel()
        gate.open()
        await gate.asleep(2)
        assert recording.calls[-1] == [kept]  # the next cycle no longer asks for the cancelled job
        assert poller.waiting == 1 and poller.running
        waits[kept].cancel()
        gate.open()
        task = poller._task
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), BOUND) if task else None
        return poller

    poller = asyncio.run(scenario())
    assert poller.waiting == 0 and not poller.running
    assert len(recording.calls) == 2  # no cycle after the last waiter left


def test_one_connection_shares_one_client_and_two_connections_make_two_pollers(aws_default, batch, monkeypatch, low_floor):
    from tests.support.provider import aws_connection_json as aws_connection_uri

    monkeypatch.setenv("AIRFLOW_CONN_AWS_OTHER", aws_connection_uri(aws_default.url))
    batch.update_compute_environment(computeEnvironment=CE, state="DISABLED")
    job_ids = submit(batch, 3)
    real = poller_module.shared_hook
    clients: list[tuple[str, int]] = []

    def counting(aws_conn_id, region_name):
        hook = real(aws_conn_id, region_name)
        clients.append((aws_conn_id, id(hook.conn)))
        return hook

    monkeypatch.setattr(poller_module, "shared_hook", counting)

    async def scenario():
        gate = Gate()
        monkeypatch.setattr(poller_module, "sleep", gate)
        waits = [asyncio.ensure_future(poller_module.wait_for_job(j, "aws_default", None, 1)) for j in job_ids]
        waits.append(asyncio.ensure_future(poller_module.wait_for_job(job_ids[0], "aws_other", None, 1)))
        await gate.asleep(2)  # both loops ran a cycle
        pollers = poller_module.active_pollers()
        counts = sorted((p.key[0], p.waiting) for p in pollers)
        for wait in waits:
            wait.cancel()
        gate.open(2)
        await asyncio.gather(*waits, return_exceptions=True)
        return counts

    counts = asyncio.run(scenario())
    assert counts == [("aws_default", 3), ("aws_other", 1)]
    assert sorted(conn for conn, _ in clients) == ["aws_default", "aws_other"]  # one client lookup per loop
    assert len({client for _, client in clients}) == 2


def test_a_shorter_interval_cuts_the_current_sleep_short_and_intervals_have_a_floor(aws_default, batch):
    batch.update_compute_environment(computeEnvironment=CE, state="DISABLED")
    slow, fast = submit(batch, 2)
    recording = Recording(batch)

    async def scenario():
        gate = Gate()
        poller = JobPoller(("aws_default", None), hook_factory=lambda: hook_on(recording), sleep=gate)
        first = asyncio.ensure_future(poller.wait(slow, 60))
        await gate.asleep(1)
        second = asyncio.ensure_future(poller.wait(fast, 0.001))  # the gate is never opened: only a wake-up helps
        await gate.asleep(2)
        calls = list(recording.calls)
        for wait in (first, second):
            wait.cancel()
        await asyncio.gather(first, second, return_exceptions=True)
        return gate.delays, calls

    delays, calls = asyncio.run(scenario())
    assert delays == [60.0, policy.MIN_POLL_INTERVAL]
    assert calls == [[slow], [slow, fast]]


def test_the_poller_keeps_only_recent_cycles(aws_default, batch, low_floor, monkeypatch):
    monkeypatch.setattr(poller_module, "RECENT_CYCLES", 4)
    batch.update_compute_environment(computeEnvironment=CE, state="DISABLED")
    (job_id,) = submit(batch, 1)

    async def scenario():
        gate = Gate()
        poller = JobPoller(("aws_default", None), hook_factory=lambda: hook_on(Recording(batch)), sleep=gate)
        waiter = asyncio.ensure_future(poller.wait(job_id, 1))
        for cycle in range(1, 11):
            await gate.asleep(cycle)
            gate.open()
        waiter.cancel()
        gate.open()
        await asyncio.gather(waiter, return_exceptions=True)
        return poller.stats

    stats = asyncio.run(scenario())
    assert stats.cycles >= 10
    assert list(stats.calls_per_cycle) == [1, 1, 1, 1] and stats.max_calls == 1
