"""The submit operator's waiting and its failure paths, driven directly against the engine.

The sync wait runs on an injected clock and sleep (no time passes); the context is the part of a task's
context the operator reads (Airflow's boundary).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from batch_eks_provider.exceptions import BatchEksError, BatchEksInvalidInputError, BatchEksWaitTimeoutError
from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator
from batch_eks_provider.operators import task_logs
from tests.support.waits import wait_for_job
from tests.support.metrics import api_requests

QUEUE = "doeks-JQ1_OD"
CE = "doeks-CE1_OD"
DEFINITION = "doeks-hello-world"


def context(try_number: int = 1, run_after=None) -> dict:
    ti = SimpleNamespace(
        dag_id="waits", run_id="manual__1", task_id="t", map_index=-1, try_number=try_number,
        xcom_push=lambda **_: None, xcom_pull=lambda **_: None,
    )
    return {"ti": ti, "dag_run": SimpleNamespace(run_after=run_after)} if run_after else {"ti": ti}


def operator(**kwargs) -> BatchEksSubmitJobOperator:
    defaults = dict(
        task_id="t", job_name="waits", job_queue=QUEUE, job_definition=DEFINITION, command=["sh", "-c", "sleep 60"], args=[],
        deferrable=False,
    )
    return BatchEksSubmitJobOperator(**{**defaults, **kwargs})


class FakeTime:
    """A clock that only moves when the operator sleeps."""

    def __init__(self) -> None:
        self.now, self.sleeps = 1000.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def submit_running(batch, name: str = "waits") -> str:
    job_id = batch.submit_job(
        jobName=name, jobQueue=QUEUE, jobDefinition=DEFINITION,
        eksPropertiesOverride={"podProperties": {"containers": [{"command": ["sh", "-c", "sleep 60"], "args": []}]}},
    )["jobId"]
    wait_for_job(batch, job_id, statuses=("RUNNING",))
    return job_id


@pytest.mark.parametrize("bound", ["max_wait", "execution_timeout"])
def test_the_sync_wait_is_bounded_by_max_wait_or_execution_timeout(aws_default, batch, bound):
    limit = {"max_wait": {"max_wait": 30}, "execution_timeout": {"execution_timeout": timedelta(seconds=30)}}[bound]
    task = operator(poll_interval=10, **limit)
    fake = FakeTime()
    task.wait_clock, task.wait_sleep = fake.clock, fake.sleep
    before = api_requests(aws_default.url, "DescribeJobs")
    with pytest.raises(BatchEksWaitTimeoutError) as raised:
        task.execute(context())
    assert f"{bound}=30" in str(raised.value)
    assert fake.sleeps == [10, 10, 10]
    assert api_requests(aws_default.url, "DescribeJobs") - before == 4  # at 0, 10, 20 and 30 s of the fake clock
    (job,) = batch.describe_jobs(jobs=[task.job_id])["jobs"]
    assert job["status"] == "FAILED" and "max_wait" in job["statusReason"]


def test_a_trigger_that_failed_does_not_terminate_the_job(aws_default, batch):
    from airflow.sdk.exceptions import TaskDeferralError

    job_id = submit_running(batch)
    task = operator(deferrable=True, max_wait=60)
    ctx = context()
    ctx["ti"].xcom_pull = lambda **_: job_id
    with pytest.raises(TaskDeferralError):
        task.resume_execution("__fail__", {"error": "Trigger failure"}, ctx)
    (job,) = batch.describe_jobs(jobs=[job_id])["jobs"]
    assert job["status"] == "RUNNING"  # a retry re-attaches to it


@pytest.mark.parametrize("try_number, retries, terminated", [(1, 1, False), (2, 1, True), (1, 0, True)])
def test_an_error_event_terminates_the_job_only_on_the_last_try(aws_default, batch, try_number, retries, terminated):
    job_id = submit_running(batch)
    task = operator(deferrable=True, retries=retries)
    with pytest.raises(BatchEksError, match="DescribeJobs failed"):
        task.execute_complete(context(try_number), {"status": "error", "job_id": job_id, "message": "DescribeJobs failed"}, job_id)
    if terminated:
        job = wait_for_job(batch, job_id)
        assert job["isTerminated"] is True and "last try" in job["statusReason"]
    else:
        (job,) = batch.describe_jobs(jobs=[job_id])["jobs"]
        assert job["status"] == "RUNNING"


def test_the_reattach_lookup_skips_jobs_older_than_the_run(aws_default, batch):
    for _ in range(3):
        submit_running(batch, name="history")
    task = operator(job_name="history", wait_for_completion=False)
    before = api_requests(aws_default.url, "DescribeJobs")
    task.execute(context(run_after=datetime.fromtimestamp(time.time() + 3600, tz=timezone.utc)))
    assert api_requests(aws_default.url, "DescribeJobs") - before == 0  # three older same-named jobs never described
    assert api_requests(aws_default.url, "SubmitJob") == 4


def test_permanent_exit_codes_poll_interval_and_max_wait_are_templated_and_read_at_execute():
    task = operator(permanent_exit_codes="[42, '3']", poll_interval="0.5", max_wait="90")
    assert {"permanent_exit_codes", "poll_interval", "max_wait"} <= set(task.template_fields)
    assert task._exit_codes() == frozenset({42, 3})
    assert task._poll_interval() == 0.5 and task._max_wait() == 90
    with pytest.raises(BatchEksInvalidInputError, match="max_wait 'inf'"):
        operator(max_wait="inf")._max_wait()
    with pytest.raises(BatchEksInvalidInputError, match="poll_interval -1"):
        operator(poll_interval=-1)._poll_interval()


def test_can_reattach_takes_active_jobs_and_successes_of_tries_that_did_not_succeed():
    from batch_eks_provider.operators.identity import can_reattach

    def job(status, **tags):
        return {"status": status, "tags": {f"airflow:{k}": v for k, v in tags.items()}}

    assert can_reattach(job("RUNNING", try_number="1", task_succeeded="1"), 2)  # still active: always this task's work
    assert can_reattach(job("SUCCEEDED", try_number="1"), 2)  # try 1's worker died after its job ended
    assert can_reattach(job("SUCCEEDED", try_number="2"), 2)  # the same try, restarted in place
    assert can_reattach(job("SUCCEEDED"), 1)  # a job from before the try tag existed
    assert not can_reattach(job("SUCCEEDED", try_number="1", task_succeeded="1"), 2)  # cleared after success: new work
    assert not can_reattach(job("SUCCEEDED", try_number="3"), 2)  # from a later try of another clear
    assert not can_reattach(job("FAILED", try_number="1"), 2)


def test_one_pod_hook_per_task_and_log_streams_have_a_read_timeout(aws_default, batch, monkeypatch):
    from batch_eks_provider.hooks.pods import BatchEksPodHook
    from batch_eks_provider.operators import submit as submit_module

    made, timeouts = [], []

    class Counting(BatchEksPodHook):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

        def stream_pod_logs(self, *args, **kwargs):
            timeouts.append(kwargs.get("request_timeout"))
            return super().stream_pod_logs(*args, **kwargs)

    monkeypatch.setattr(submit_module, "BatchEksPodHook", Counting)
    task = operator(command=["sh", "-c", "echo one; sleep 1; echo two"], poll_interval=0.2)
    assert task.execute(context()) == task.job_id
    assert timeouts and all(t == (10, task_logs.LOG_READ_TIMEOUT) for t in timeouts)
    (job,) = batch.describe_jobs(jobs=[task.job_id])["jobs"]
    task._fetch_attempt_logs(job)  # fetching the attempts' output again (as a resumed task does) reuses it too
    assert len(made) == 1
