"""Pages of ListJobs and the other paginated lists while the listed items change between two calls."""

from __future__ import annotations

import pytest

from tests.support.waits import wait_for


def _runnable_jobs(env, count: int) -> list[str]:
    """``count`` jobs that stay RUNNABLE: their queue's only compute environment is DISABLED."""
    env.ce("off", state="DISABLED")
    env.queue("held", ["off"])
    env.definition("noop", ["true"])
    ids = [env.submit("held", "noop", name=f"j{i}") for i in range(count)]
    wait_for(
        lambda: len(env.batch.list_jobs(jobQueue="held", jobStatus="RUNNABLE", maxResults=1000)["jobSummaryList"]) == count,
        timeout=15,
        what=f"{count} RUNNABLE jobs",
    )
    return ids


def _names(response) -> list[str]:
    return [s["jobName"] for s in response["jobSummaryList"]]


def test_list_jobs_next_page_starts_after_the_last_job_listed_even_when_earlier_jobs_left(make_env):
    env = make_env()
    ids = _runnable_jobs(env, 15)
    first = env.batch.list_jobs(jobQueue="held", jobStatus="RUNNABLE", maxResults=5)
    assert _names(first) == [f"j{i}" for i in range(5)]
    env.batch.cancel_jobs(jobs=ids[:5], reason="gone between two pages")  # the listed jobs leave RUNNABLE
    wait_for(lambda: env.job(ids[4])["status"] == "FAILED", timeout=10, what="cancelled jobs FAILED")
    second = env.batch.list_jobs(jobQueue="held", jobStatus="RUNNABLE", maxResults=5, nextToken=first["nextToken"])
    assert _names(second) == [f"j{i}" for i in range(5, 10)]
    third = env.batch.list_jobs(jobQueue="held", jobStatus="RUNNABLE", maxResults=5, nextToken=second["nextToken"])
    assert _names(third) == [f"j{i}" for i in range(10, 15)]
    assert "nextToken" not in third


def test_a_filtered_list_accepts_max_results_up_to_1000_and_returns_at_most_100_per_page(make_env):
    env = make_env()
    _runnable_jobs(env, 105)
    name_filter = [{"name": "JOB_NAME", "values": ["j*"]}]
    first = env.batch.list_jobs(jobQueue="held", filters=name_filter, maxResults=500)
    assert len(first["jobSummaryList"]) == 100 and first["nextToken"]
    assert _names(first)[:2] == ["j104", "j103"]  # newest first
    rest = env.batch.list_jobs(jobQueue="held", filters=name_filter, maxResults=500, nextToken=first["nextToken"])
    assert _names(rest) == ["j4", "j3", "j2", "j1", "j0"] and "nextToken" not in rest
    with pytest.raises(env.batch.exceptions.ClientException, match="Invalid maxResults 1001: must be between 1 and 1000"):
        env.batch.list_jobs(jobQueue="held", filters=name_filter, maxResults=1001)


def test_list_scheduling_policies_pages_survive_deletes_between_calls(make_env):
    env = make_env()
    arns = [env.policy(f"p{i}", {"shareDecaySeconds": 0}) for i in range(5)]
    first = env.batch.list_scheduling_policies(maxResults=2)
    assert [p["arn"] for p in first["schedulingPolicies"]] == arns[:2]
    for arn in arns[:2]:
        env.batch.delete_scheduling_policy(arn=arn)
    second = env.batch.list_scheduling_policies(maxResults=2, nextToken=first["nextToken"])
    assert [p["arn"] for p in second["schedulingPolicies"]] == arns[2:4]


def test_describe_job_queues_pages_survive_deletes_between_calls(make_env):
    env = make_env()
    env.ce("ce")
    for name in ("qa", "qb", "qc", "qd"):
        env.queue(name, ["ce"], state="DISABLED")
    first = env.batch.describe_job_queues(maxResults=2)
    assert [q["jobQueueName"] for q in first["jobQueues"]] == ["qa", "qb"]
    env.batch.delete_job_queue(jobQueue="qa")
    wait_for(lambda: "qa" not in [q["jobQueueName"] for q in env.batch.describe_job_queues()["jobQueues"]],
             timeout=10, what="qa deleted")
    second = env.batch.describe_job_queues(maxResults=2, nextToken=first["nextToken"])
    assert [q["jobQueueName"] for q in second["jobQueues"]] == ["qc", "qd"]
