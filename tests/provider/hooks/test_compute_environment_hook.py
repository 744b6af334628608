"""BatchEksComputeEnvironmentHook against the engine: scale, pre-warm, scale to zero, enable/disable, wait for VALID."""

from __future__ import annotations

import json
import urllib.request

import pytest

from batch_eks_provider.exceptions import (
    BatchEksComputeEnvironmentError,
    BatchEksInvalidInputError,
    BatchEksWaitTimeoutError,
)
from batch_eks_provider.hooks.compute_environment import VcpuSettings
from tests.support.waits import wait_for
from tests.support.metrics import api_requests as api_calls

CE = "doeks-CE1_OD"


def _resources(batch, name=CE) -> dict:
    return batch.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"][0][
        "computeResources"
    ]


def _node_vcpus(engine_url: str, name: str = CE) -> float:
    with urllib.request.urlopen(f"{engine_url}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f'batch_eks_vcpus{{compute_environment="{name}"}}'):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_scale_sets_min_and_max_and_reports_the_previous_values(ce_hook, batch):
    result = ce_hook.scale(CE, min_vcpus=4, max_vcpus=64)
    assert result.previous == VcpuSettings(0, 0, 128)
    assert result.requested == VcpuSettings(4, None, 64)
    assert result.changed and result.arn.endswith(f"compute-environment/{CE}")
    resources = _resources(batch)
    assert (resources["minvCpus"], resources["maxvCpus"]) == (4, 64)
    assert json.loads(json.dumps(result.to_dict()))["previous"]["max_vcpus"] == 128


@pytest.mark.parametrize(
    "kwargs, field, value",
    [
        (dict(min_vcpus=8, max_vcpus=4), "min_vcpus", 8),
        (dict(min_vcpus=8, desired_vcpus=4), "min_vcpus", 8),
        (dict(desired_vcpus=16, max_vcpus=8), "desired_vcpus", 16),
        (dict(max_vcpus=-1), "max_vcpus", -1),
        (dict(min_vcpus=True), "min_vcpus", True),
        (dict(min_vcpus="4"), "min_vcpus", "4"),
        (dict(), "min_vcpus/desired_vcpus/max_vcpus", None),
    ],
)
def test_bad_scaling_input_is_rejected_before_any_call(ce_hook, engine, kwargs, field, value):
    with pytest.raises(BatchEksInvalidInputError) as caught:
        ce_hook.scale(CE, **kwargs)
    assert caught.value.field == field and repr(value) in str(caught.value)
    assert api_calls(engine.url) == 0


def test_scaling_is_checked_against_the_current_values_before_updating(ce_hook, engine):
    with pytest.raises(
        BatchEksInvalidInputError,
        match=r"Invalid min_vcpus 200: must not be more than max_vcpus \(128\) \(current values: 0/0/128",
    ):
        ce_hook.scale(CE, min_vcpus=200)
    ce_hook.scale(CE, desired_vcpus=8)
    with pytest.raises(
        BatchEksInvalidInputError, match=r"Invalid desired_vcpus 4: is below the current desiredvCpus \(8\)"
    ):
        ce_hook.scale(CE, desired_vcpus=4)
    assert api_calls(engine.url, "UpdateComputeEnvironment") == 1


def test_pre_warm_launches_nodes_and_scale_to_zero_lowers_min_again(ce_hook, batch, engine):
    warmed = ce_hook.pre_warm(CE, 16)
    assert warmed.previous.min_vcpus == 0 and warmed.changed
    assert _resources(batch)["minvCpus"] == 16
    wait_for(lambda: _node_vcpus(engine.url) >= 16, what="16 vCPUs of nodes in the CE")
    again = ce_hook.pre_warm(CE, 8)  # already warmer: nothing sent
    assert not again.changed and api_calls(engine.url, "UpdateComputeEnvironment") == 1
    cooled = ce_hook.scale_to_zero(CE)
    assert cooled.previous.min_vcpus == 16
    assert _resources(batch)["minvCpus"] == 0


def test_pre_warm_beyond_max_vcpus_is_bad_input(ce_hook, engine):
    with pytest.raises(
        BatchEksInvalidInputError,
        match=r"Invalid vcpus 512: is more than maxvCpus \(128\) of compute environment doeks-CE1_OD",
    ):
        ce_hook.pre_warm(CE, 512)
    assert api_calls(engine.url, "UpdateComputeEnvironment") == 0


def test_disable_and_enable_change_the_state(ce_hook, batch):
    ce_hook.disable(CE)
    assert ce_hook.describe(CE)["state"] == "DISABLED"
    ce_hook.enable(CE)
    assert ce_hook.describe(CE)["state"] == "ENABLED"


def test_an_unknown_compute_environment_is_named(ce_hook):
    with pytest.raises(
        BatchEksComputeEnvironmentError, match="AWS Batch compute environment nope does not exist"
    ):
        ce_hook.scale("nope", min_vcpus=1)


def test_wait_until_valid_returns_once_an_update_settles(ce_hook):
    ce_hook.scale(CE, min_vcpus=2)
    assert ce_hook.wait_until_valid(CE, timeout=10, poll_interval=0.05)["status"] == "VALID"


def test_an_invalid_compute_environment_raises_with_its_status_reason(ce_hook, engine):
    reason = "CLIENT_ERROR - EKS Cluster version [1.21] is unsupported"
    record = engine.engine.state.compute_environments[CE]
    record.status_reason = reason
    record.status = "INVALID"  # the engine's scheduler leaves INVALID environments alone
    with pytest.raises(BatchEksComputeEnvironmentError) as caught:
        ce_hook.wait_until_valid(CE, timeout=10, poll_interval=0.05)
    assert (
        str(caught.value)
        == f"AWS Batch compute environment {CE} (arn:aws:batch:us-east-1:123456789012:compute-environment/{CE}) is INVALID: {reason}"
    )
    assert caught.value.status_reason == reason and caught.value.compute_environment == CE


def test_wait_until_valid_is_bounded_by_its_clock_and_by_a_call_count(ce_hook, monkeypatch):
    # A compute environment stuck UPDATING: the engine would settle it within a second, so the API answer is stubbed.
    stuck = {"computeEnvironmentName": CE, "computeEnvironmentArn": f"arn:{CE}", "status": "UPDATING"}
    calls = []
    monkeypatch.setattr(ce_hook, "_describe", lambda name: calls.append(name) or stuck)
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    with pytest.raises(
        BatchEksWaitTimeoutError,
        match=f"compute environment {CE} \\(arn:{CE}\\) is still UPDATING after waiting 30s",
    ):
        ce_hook.wait_until_valid(CE, timeout=30, poll_interval=10, clock=lambda: now[0], sleep=sleep)
    assert slept == [10, 10, 10] and len(calls) == 4
    calls.clear()
    with pytest.raises(BatchEksWaitTimeoutError):  # a clock that never moves still stops
        ce_hook.wait_until_valid(CE, timeout=30, poll_interval=10, clock=lambda: 0.0, sleep=lambda s: None)
    assert len(calls) == 4
