"""Submission cost: a cold worker checks the queue, its compute environments and the job definition once;
a warm one makes the re-attach lookup (ListJobs) and SubmitJob until the facts are older than the TTL or a submit fails."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from batch_eks_provider.exceptions import BatchEksQueueUnavailableError
from batch_eks_provider.hooks.facts import facts_cache
from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator
from tests.support.metrics import api_request_totals


def calls(engine_url: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for (operation, _), n in api_request_totals(engine_url).items():
        totals[operation] = totals.get(operation, 0) + n
    return totals


def submit(name: str) -> None:
    ti = SimpleNamespace(dag_id="facts", run_id=f"manual__{name}", task_id=name, map_index=-1, try_number=1,
                         xcom_push=lambda **_: None)
    BatchEksSubmitJobOperator(
        task_id=name, job_name=name, job_queue="doeks-JQ1_OD", job_definition="doeks-hello-world",
        wait_for_completion=False, deferrable=False,
    ).execute({"ti": ti})


def test_a_warm_worker_submits_with_one_call_until_the_facts_expire(aws_default, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(facts_cache, "clock", lambda: now[0])
    submit("cold")
    cold = calls(aws_default.url)
    assert cold == {
        "DescribeJobDefinitions": 1, "DescribeJobQueues": 1, "DescribeComputeEnvironments": 1, "ListJobs": 1, "SubmitJob": 1
    }
    submit("warm")
    warm = calls(aws_default.url)
    assert {op: warm[op] - cold.get(op, 0) for op in warm if warm[op] != cold.get(op, 0)} == {"ListJobs": 1, "SubmitJob": 1}
    now[0] += facts_cache.ttl
    submit("expired")
    assert calls(aws_default.url)["DescribeJobQueues"] == 2


def test_a_failed_submit_forgets_the_facts(aws_default, batch):
    from botocore.exceptions import ClientError

    submit("first")  # facts remembered: the queue is ENABLED
    batch.update_job_queue(jobQueue="doeks-JQ1_OD", state="DISABLED")
    with pytest.raises(ClientError, match="DISABLED"):
        submit("second")  # remembered facts say ENABLED: Batch refuses the SubmitJob, and the facts are dropped
    with pytest.raises(BatchEksQueueUnavailableError, match="DISABLED"):
        submit("third")
