"""Queue and fit rules on DescribeJobQueues / DescribeComputeEnvironments answers (pure functions)."""

from __future__ import annotations

import pytest

from batch_eks_provider.exceptions import BatchEksInvalidInputError, BatchEksQueueUnavailableError
from batch_eks_provider.instance_types import expand
from batch_eks_provider.hooks.queue_check import (
    ResourceRequirement,
    compute_environment_index,
    pick_queue,
    queue_report,
)


def _ce(name: str, instance_types, max_vcpus=256, state="ENABLED", status="VALID", reason=None):
    ce = {
        "computeEnvironmentName": name,
        "computeEnvironmentArn": f"arn:aws:batch:us-east-1:123456789012:compute-environment/{name}",
        "state": state,
        "status": status,
        "computeResources": {"minvCpus": 0, "maxvCpus": max_vcpus, "instanceTypes": instance_types},
    }
    if reason:
        ce["statusReason"] = reason
    return ce


def _queue(name: str, *ces: str, state="ENABLED", status="VALID"):
    return {
        "jobQueueName": name,
        "jobQueueArn": f"arn:aws:batch:us-east-1:123456789012:job-queue/{name}",
        "state": state,
        "status": status,
        "priority": 1,
        "computeEnvironmentOrder": [
            {
                "order": i,
                "computeEnvironment": f"arn:aws:batch:us-east-1:123456789012:compute-environment/{c}",
            }
            for i, c in enumerate(ces)
        ],
    }


def test_unknown_instance_types_never_block_a_job():
    ces = compute_environment_index([_ce("custom", ["x99.mega"], max_vcpus=4096)])
    report = queue_report(
        _queue("q", "custom"), ces, ResourceRequirement.of(cpu="1024", memory="9000000Mi", gpus=16)
    )
    assert report.accepts
    assert report.compute_environments[0].unknown_instance_types == ("x99.mega",)


def test_maxvcpus_still_applies_with_unknown_instance_types():
    ces = compute_environment_index([_ce("custom", ["x99.mega"], max_vcpus=16)])
    report = queue_report(_queue("q", "custom"), ces, ResourceRequirement.of(cpu="32", memory="1024Mi"))
    with pytest.raises(
        BatchEksInvalidInputError,
        match=r"Invalid cpu '32': is more than maxvCpus 16 of compute environment custom",
    ):
        pick_queue([report])


def test_a_job_fits_when_any_usable_compute_environment_of_the_queue_fits():
    ces = compute_environment_index([_ce("small", ["c5.large"]), _ce("big", ["r5"])])
    report = queue_report(_queue("q", "small", "big"), ces, ResourceRequirement.of(cpu="8", memory="65536Mi"))
    assert report.accepts
    assert report.compute_environments[0].fit.field == "cpu"
    assert report.compute_environments[1].fit is None


def test_memory_limit_is_the_allocatable_memory_of_the_largest_instance_with_enough_vcpus():
    ces = compute_environment_index([_ce("m5-small", ["m5.large", "m5.xlarge"])])
    report = queue_report(_queue("q", "m5-small"), ces, ResourceRequirement.of(cpu="2", memory="16384Mi"))
    with pytest.raises(BatchEksInvalidInputError) as caught:
        pick_queue([report])
    assert caught.value.field == "memory"
    assert "15710Mi" in str(caught.value) and "m5.xlarge" in str(caught.value)


def test_an_invalid_compute_environment_makes_the_queue_unavailable_with_its_reason():
    reason = "CLIENT_ERROR - EKS Cluster version [1.21] is unsupported"
    ces = compute_environment_index([_ce("broken", ["m5"], status="INVALID", reason=reason)])
    report = queue_report(_queue("q", "broken"), ces, None)
    assert not report.usable
    with pytest.raises(
        BatchEksQueueUnavailableError,
        match=r"compute environment broken is INVALID \(CLIENT_ERROR - EKS Cluster",
    ):
        pick_queue([report])


@pytest.mark.parametrize("status", ["CREATING", "UPDATING"])
def test_compute_environments_on_their_way_to_valid_are_usable(status):
    ces = compute_environment_index([_ce("new", ["m5"], status=status)])
    assert queue_report(_queue("q", "new"), ces, ResourceRequirement.of(cpu="1", memory="512Mi")).accepts


def test_a_queue_naming_a_missing_compute_environment_says_so():
    report = queue_report(_queue("q", "gone"), {}, None)
    assert report.problems[-1].startswith(
        "none of its compute environments is usable (compute environment gone does not exist"
    )


def test_a_job_too_big_for_every_queue_is_bad_input_even_if_one_is_disabled():
    ces = compute_environment_index([_ce("a", ["m5.large"]), _ce("b", ["m5.large"])])
    reports = [
        queue_report(
            _queue("qa", "a", state="DISABLED"), ces, ResourceRequirement.of(cpu="4", memory="1024Mi")
        ),
        queue_report(_queue("qb", "b"), ces, ResourceRequirement.of(cpu="4", memory="1024Mi")),
    ]
    with pytest.raises(BatchEksInvalidInputError, match="Invalid cpu '4'"):
        pick_queue(reports)


def test_a_disabled_queue_that_could_fit_makes_it_unavailable_not_bad_input():
    ces = compute_environment_index([_ce("a", ["m5"]), _ce("b", ["m5.large"])])
    need = ResourceRequirement.of(cpu="4", memory="1024Mi")
    reports = [
        queue_report(_queue("qa", "a", state="DISABLED"), ces, need),
        queue_report(_queue("qb", "b"), ces, need),
    ]
    with pytest.raises(BatchEksQueueUnavailableError) as caught:
        pick_queue(reports)
    assert caught.value.reasons == {
        "qa": "job queue qa: job queue qa is DISABLED",
        "qb": "job queue qb: the job cannot fit: cpu '4' is more than the 2 vCPUs of the largest instance type (m5.large) of compute environment b.",
    }


def test_requirement_sums_containers_and_takes_the_larger_init_container():
    pod = {
        "containers": [
            {"resources": {"limits": {"cpu": "1", "memory": "512Mi"}}},
            {
                "resources": {
                    "requests": {"cpu": "0.5"},
                    "limits": {"cpu": "2", "memory": "256Mi", "nvidia.com/gpu": "1"},
                }
            },
        ],
        "initContainers": [{"resources": {"limits": {"cpu": "4", "memory": "64Mi"}}}],
    }
    assert ResourceRequirement.from_pod_properties(pod) == ResourceRequirement.of(
        cpu="4", memory="768Mi", gpus=1
    )


def test_instance_type_expansion_knows_families_and_aliases():
    known, unknown = expand(["optimal", "g5.xlarge", "z1d.large"])
    names = {t.name for t in known}
    assert {"m5.large", "c5.24xlarge", "r5.24xlarge", "g5.xlarge"} <= names
    assert unknown == ["z1d.large"]


def test_a_partial_resource_override_is_completed_from_the_definition():
    from batch_eks_provider.hooks.batch import complete_override_resources

    definition = {
        "eksProperties": {
            "podProperties": {
                "containers": [
                    {
                        "name": "main",
                        "resources": {
                            "limits": {"cpu": "1", "memory": "1024Mi"},
                            "requests": {"cpu": "0.5", "memory": "1024Mi"},
                        },
                    },
                    {"name": "sidecar", "resources": {"limits": {"cpu": "0.25", "memory": "64Mi"}}},
                ]
            }
        }
    }
    request = {
        "eksPropertiesOverride": {
            "podProperties": {
                "containers": [
                    {"resources": {"limits": {"memory": "4096Mi"}}},
                    {"name": "sidecar", "command": ["x"]},
                ]
            }
        }
    }
    complete_override_resources(request, definition)
    main, sidecar = request["eksPropertiesOverride"]["podProperties"]["containers"]
    assert main["resources"] == {"limits": {"memory": "4096Mi", "cpu": "1"}, "requests": {"cpu": "0.5"}}
    assert "resources" not in sidecar  # no resources overridden: the definition's stand
    assert ResourceRequirement.for_submit_request(request, definition) == ResourceRequirement.of(
        cpu="0.75", memory="4160Mi"
    )
