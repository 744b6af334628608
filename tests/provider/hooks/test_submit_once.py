"""SubmitJob is never sent twice blindly: one call of ``BatchEksHook.submit_job`` makes at most one job.

The connections here keep botocore's default retries on (as a deployment would), so the tests also show that
botocore does not resend SubmitJob behind the hook's back. Failures after the engine processed the request
come from a loopback proxy (:mod:`tests.provider_hooks.faulty_proxy`); failures before it from the engine's
``server_error_rate``/``throttle_rate`` fault injection.
"""

from __future__ import annotations

import pytest

from batch_eks_provider import retries
from batch_eks_provider.hooks.batch import BatchEksSubmitOutcomeUnknownError
from batch_eks_provider.local import LocalEngine
from batch_eks_provider.local.store.state import EngineConfig
from tests.support.aws import aws_client
from tests.support.faulty_proxy import faulty_proxy
from tests.support.metrics import api_requests as api_calls
from tests.support.provider import aws_connection_json, post_admin

QUEUE = "doeks-JQ1_OD"
DEFINITION = "doeks-hello-world"
NO_BOTOCORE_RETRIES = {"config_kwargs": {"retries": {"total_max_attempts": 1, "mode": "standard"}}}


@pytest.fixture
def seeded_engine(tmp_path):
    with LocalEngine(
        blueprint="data-on-eks", state_dir=tmp_path / "engine", config=EngineConfig(random_seed=7)
    ) as running:
        yield running


@pytest.fixture
def short_waits():
    slept: list[float] = []
    with retries.overridden(initial_wait=0.001, max_wait=0.01, max_attempts=20, sleep=slept.append):
        yield slept


def _hook(monkeypatch, url: str, **extra: object):
    from batch_eks_provider.hooks.batch import BatchEksHook

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json(url, **extra))
    return BatchEksHook(aws_conn_id="aws_default")


def _jobs_named(engine_url: str, name: str) -> list[dict]:
    batch = aws_client("batch", engine_url)
    pages = batch.get_paginator("list_jobs").paginate(
        jobQueue=QUEUE, filters=[{"name": "JOB_NAME", "values": [name]}]
    )
    return [s for page in pages for s in page["jobSummaryList"]]


@pytest.mark.parametrize("fault", ["drop", "503"])
def test_an_error_after_the_job_was_created_returns_that_job(seeded_engine, monkeypatch, short_waits, fault):
    with faulty_proxy(seeded_engine.url) as proxy:
        proxy.fault = fault
        proxy.failures["submitjob"] = 1
        hook = _hook(monkeypatch, proxy.url)
        submitted = hook.submit_job(
            jobName="once", jobQueue=QUEUE, jobDefinition=DEFINITION, tags={"airflow-try": "run1-t1"}
        )
    jobs = _jobs_named(seeded_engine.url, "once")
    assert [j["jobId"] for j in jobs] == [submitted["jobId"]]
    assert proxy.forwarded["submitjob"] == 1  # neither botocore nor the hook sent it again
    assert proxy.forwarded["listjobs"] >= 1  # the hook looked for the job instead


def test_without_tags_an_ambiguous_error_says_the_job_may_exist(seeded_engine, monkeypatch, short_waits):
    with faulty_proxy(seeded_engine.url) as proxy:
        proxy.failures["submitjob"] = 1
        hook = _hook(monkeypatch, proxy.url)
        with pytest.raises(BatchEksSubmitOutcomeUnknownError, match="may or may not exist") as caught:
            hook.submit_job(jobName="untagged", jobQueue=QUEUE, jobDefinition=DEFINITION)
    assert "'untagged'" in str(caught.value) and QUEUE in str(caught.value)
    assert len(_jobs_named(seeded_engine.url, "untagged")) == 1  # it did exist
    assert proxy.forwarded["submitjob"] == 1


def test_identity_tags_narrow_the_lookup_to_this_submission(seeded_engine, monkeypatch, short_waits):
    """An older job with the same name and shared tags is not mistaken for this call's job."""
    hook = _hook(monkeypatch, seeded_engine.url)
    older = hook.submit_job(
        jobName="same", jobQueue=QUEUE, jobDefinition=DEFINITION, tags={"team": "a", "try": "1"}
    )
    with faulty_proxy(seeded_engine.url) as proxy:
        proxy.failures["submitjob"] = 1
        submitted = _hook(monkeypatch, proxy.url).submit_job(
            identity_tags={"try": "2"},
            jobName="same",
            jobQueue=QUEUE,
            jobDefinition=DEFINITION,
            tags={"team": "a", "try": "2"},
        )
    assert submitted["jobId"] != older["jobId"]
    assert len(_jobs_named(seeded_engine.url, "same")) == 2


@pytest.mark.parametrize("tagged", [True, False])
def test_injected_server_errors_make_exactly_one_job_per_successful_call(
    seeded_engine, monkeypatch, short_waits, tagged
):
    post_admin(seeded_engine.url, "/_local/faults", {"server_error_rate": 0.3, "throttle_rate": 0.2})
    # botocore's real-time backoff would only slow the lookups down; the proxy tests above keep it on
    hook = _hook(monkeypatch, seeded_engine.url, **NO_BOTOCORE_RETRIES)
    returned, unknown = [], 0
    for i in range(16):
        tags = {"call": str(i)} if tagged else {}
        try:
            returned.append(
                hook.submit_job(jobName="burst", jobQueue=QUEUE, jobDefinition=DEFINITION, tags=tags)["jobId"]
            )
        except BatchEksSubmitOutcomeUnknownError:
            unknown += 1
    post_admin(seeded_engine.url, "/_local/faults", {"server_error_rate": 0.0, "throttle_rate": 0.0})
    created = [j["jobId"] for j in _jobs_named(seeded_engine.url, "burst")]
    assert sorted(created) == sorted(returned)  # one job per successful call, none for the failed ones
    assert len(set(returned)) == len(returned)
    assert api_calls(seeded_engine.url, "SubmitJob", outcome="ServerException") >= 2, "faults should have been injected"
    if tagged:
        assert len(returned) == 16
    else:
        assert unknown >= 1 and len(returned) == 16 - unknown


def test_throttling_is_retried_without_a_lookup(seeded_engine, monkeypatch, short_waits):
    post_admin(seeded_engine.url, "/_local/faults", {"throttle_rate": 0.6})
    hook = _hook(monkeypatch, seeded_engine.url)
    ids = [
        hook.submit_job(jobName="throttled", jobQueue=QUEUE, jobDefinition=DEFINITION)["jobId"] for _ in range(5)
    ]
    post_admin(seeded_engine.url, "/_local/faults", {"throttle_rate": 0.0})
    assert sorted(j["jobId"] for j in _jobs_named(seeded_engine.url, "throttled")) == sorted(ids)
    assert api_calls(seeded_engine.url, "SubmitJob", outcome="TooManyRequestsException") >= 1
    assert api_calls(seeded_engine.url, "ListJobs") == 1  # only this test's own listing
