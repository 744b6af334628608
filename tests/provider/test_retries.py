"""The transient-error policy: hook calls ride out injected throttling and 5xx; bad requests fail at once.

botocore's own retries are switched off in these connections (``config_kwargs.retries.total_max_attempts = 1``) so
every retry observed is the provider's; waits are shortened and recorded through ``retries.overridden``.
"""

from __future__ import annotations

import socket

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from batch_eks_provider import retries
from batch_eks_provider.local import LocalEngine
from batch_eks_provider.local.store.state import EngineConfig
from batch_eks_provider.hooks.queue_check import ResourceRequirement
from tests.support.metrics import api_requests as api_calls
from tests.support.provider import aws_connection_json, post_admin

NO_BOTOCORE_RETRIES = {"config_kwargs": {"retries": {"total_max_attempts": 1, "mode": "standard"}}}


@pytest.fixture
def seeded_engine(tmp_path, monkeypatch):
    """An engine whose fault injection is repeatable, and ``aws_default`` pointing at it without botocore retries."""
    with LocalEngine(
        blueprint="data-on-eks", state_dir=tmp_path / "engine", config=EngineConfig(random_seed=20261122)
    ) as running:
        monkeypatch.setenv(
            "AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json(running.url, **NO_BOTOCORE_RETRIES)
        )
        yield running


@pytest.fixture
def recorded_sleeps():
    slept: list[float] = []
    with retries.overridden(initial_wait=0.001, max_wait=0.02, max_attempts=20, sleep=slept.append):
        yield slept


def _hook():
    from batch_eks_provider.hooks.batch import BatchEksHook

    return BatchEksHook(aws_conn_id="aws_default")


def _work(hook) -> int:
    """A DAG's worth of hook calls; returns how many API operations succeeded."""
    hook.check_queue("doeks-JQ1_OD", ResourceRequirement.of(cpu="1", memory="512Mi"))  # 2 calls
    ids = [
        hook.submit_job(
            jobName=f"j{i}", jobQueue="doeks-JQ1_OD", jobDefinition="doeks-hello-world", tags={"n": str(i)}
        )["jobId"]
        for i in range(6)
    ]
    assert set(hook.describe_jobs(ids)) == set(ids)  # 1 call
    found = hook.find_job_by_tags("doeks-JQ1_OD", {"n": "3"}, job_name="j3")  # ListJobs + DescribeJobs
    assert found["jobId"] == ids[3]
    for job_id in ids:
        hook.terminate_job(job_id, "done")
    return 2 + 6 + 1 + 2 + 6


@pytest.mark.parametrize(
    "faults", [{"throttle_rate": 0.5}, {"throttle_rate": 0.3}, {"server_error_rate": 0.4}]
)
def test_hook_calls_succeed_under_injected_faults(seeded_engine, recorded_sleeps, faults):
    post_admin(seeded_engine.url, "/_local/faults", faults)
    expected_ok = _work(_hook())
    failures = api_calls(seeded_engine.url, outcome="TooManyRequestsException") + api_calls(
        seeded_engine.url, outcome="ServerException"
    )
    # after a 5xx SubmitJob the hook looks the job up (one ListJobs) before sending it again
    lookups = api_calls(seeded_engine.url, "SubmitJob", outcome="ServerException")
    assert api_calls(seeded_engine.url, outcome="ok") == expected_ok + lookups
    assert api_calls(seeded_engine.url, "SubmitJob", outcome="ok") == 6
    assert failures >= 3, "the engine should have injected faults"
    assert len(recorded_sleeps) == failures  # one backoff wait per failed request, each bounded
    assert all(0 <= s <= 0.02 for s in recorded_sleeps)


def test_a_client_exception_is_not_retried(seeded_engine, recorded_sleeps):
    hook = _hook()
    with pytest.raises(ClientError) as caught:
        hook.submit_job(jobName="x", jobQueue="no-such-queue", jobDefinition="doeks-hello-world")
    assert caught.value.response["Error"]["Code"] == "ClientException"
    assert api_calls(seeded_engine.url, "SubmitJob") == 1
    assert recorded_sleeps == []


def test_throttling_that_never_ends_fails_after_max_attempts(seeded_engine, recorded_sleeps):
    post_admin(seeded_engine.url, "/_local/faults", {"throttle_rate": 1.0})
    with retries.overridden(max_attempts=4):
        with pytest.raises(ClientError) as caught:
            _hook().describe_jobs(["a"])
    assert caught.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert api_calls(seeded_engine.url, "DescribeJobs") == 4
    assert len(recorded_sleeps) == 3


def test_a_refused_connection_is_retried_within_the_bound(monkeypatch, recorded_sleeps):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json(f"http://127.0.0.1:{port}", **NO_BOTOCORE_RETRIES)
    )
    with retries.overridden(max_attempts=3):
        with pytest.raises(EndpointConnectionError):
            _hook().describe_job("a")
    assert len(recorded_sleeps) == 2


def test_overridden_restores_the_policy():
    before = (retries.policy.max_attempts, retries.policy.initial_wait, retries.policy.sleep)
    with retries.overridden(max_attempts=2, initial_wait=0.0):
        assert retries.policy.max_attempts == 2
    assert (retries.policy.max_attempts, retries.policy.initial_wait, retries.policy.sleep) == before
    with pytest.raises(TypeError, match="no field 'attempts'"):
        with retries.overridden(attempts=2):
            pass


@pytest.mark.parametrize(
    "code, status, transient",
    [
        ("TooManyRequestsException", 429, True),
        ("ThrottlingException", 400, True),
        ("ServerException", 500, True),
        ("SomethingNew", 503, True),
        ("ClientException", 400, False),
        ("AccessDeniedException", 403, False),
    ],
)
def test_transient_errors_are_told_apart(code, status, transient):
    error = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "DescribeJobs",
    )
    assert retries.is_transient(error) is transient


def test_the_one_backoff_is_full_jitter_exponential_and_capped():
    import random

    from batch_eks_provider.retries import backoff_seconds

    random.seed(7)
    for retry_number in range(1, 12):
        waits = [backoff_seconds(retry_number, scale=0.5, cap=20.0) for _ in range(200)]
        ceiling = min(20.0, 0.5 * 2 ** (retry_number - 1))
        assert all(0.0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling / 2  # jittered over the whole range, not a fixed step
    assert backoff_seconds(0, scale=1.0, cap=1.0) <= 1.0  # a first retry at worst
