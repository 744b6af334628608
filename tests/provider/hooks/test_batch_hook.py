"""BatchEksHook against the engine: queue checks and fallback, jobs that can never fit, re-attach by tags."""

from __future__ import annotations

import uuid

import pytest

from batch_eks_provider.exceptions import BatchEksInvalidInputError, BatchEksQueueUnavailableError
from batch_eks_provider.hooks.queue_check import ResourceRequirement
from tests.support.waits import wait_for, wait_for_job
from tests.support.metrics import api_requests as api_calls

OD, SPOT = "doeks-JQ1_OD", "doeks-JQ1_SPOT"
SMALL = ResourceRequirement.of(cpu="1", memory="1024Mi")


def test_check_queue_reports_the_queue_and_its_compute_environments_in_two_calls(batch_hook, engine):
    report = batch_hook.check_queue(OD, SMALL)
    assert (report.name, report.state, report.status, report.accepts, report.fair_share) == (
        OD,
        "ENABLED",
        "VALID",
        True,
        False,
    )
    (ce,) = report.compute_environments
    assert (ce.name, ce.max_vcpus, ce.instance_types, ce.usable) == (
        "doeks-CE1_OD",
        128,
        ("m5", "c5", "r5"),
        True,
    )
    assert (
        ce.eks_cluster_arn.endswith(":cluster/doeks-batch") and ce.kubernetes_namespace == "doeks-aws-batch"
    )
    assert api_calls(engine.url, "DescribeJobQueues") == 1
    assert api_calls(engine.url, "DescribeComputeEnvironments") == 1


def test_choose_queue_falls_back_past_a_missing_and_a_disabled_queue(batch_hook, batch, engine):
    batch.update_job_queue(jobQueue=OD, state="DISABLED")
    report = batch_hook.choose_queue(["no-such-queue", OD, SPOT], SMALL)
    assert report.name == SPOT
    # one DescribeJobQueues and one DescribeComputeEnvironments for all three queues
    assert api_calls(engine.url, "DescribeJobQueues") == 1
    assert api_calls(engine.url, "DescribeComputeEnvironments") == 1


def test_a_queue_whose_compute_environments_are_all_disabled_is_unavailable(batch_hook, batch):
    batch.update_compute_environment(computeEnvironment="doeks-CE1_OD", state="DISABLED")
    with pytest.raises(BatchEksQueueUnavailableError) as caught:
        batch_hook.check_queue(OD, SMALL)
    assert "compute environment doeks-CE1_OD is DISABLED" in str(caught.value)
    assert batch_hook.choose_queue([OD, SPOT], SMALL).name == SPOT


def test_no_usable_queue_names_each_queue_and_why(batch_hook, batch):
    batch.update_job_queue(jobQueue=OD, state="DISABLED")
    batch.update_compute_environment(computeEnvironment="doeks-CE1_SPOT", state="DISABLED")
    with pytest.raises(BatchEksQueueUnavailableError) as caught:
        batch_hook.choose_queue([OD, SPOT, "nightly"], SMALL)
    message = str(caught.value)
    assert f"job queue {OD} is DISABLED" in message
    assert "compute environment doeks-CE1_SPOT is DISABLED" in message
    assert "job queue nightly does not exist" in message
    assert list(caught.value.reasons) == [OD, SPOT, "nightly"]


@pytest.mark.parametrize(
    "requirement, field, value, limit",
    [
        (ResourceRequirement.of(cpu="200", memory="1024Mi"), "cpu", "'200'", "maxvCpus 128"),
        (ResourceRequirement.of(cpu="2", memory="900000Mi"), "memory", "'900000Mi'", "785758Mi"),
        (ResourceRequirement.of(cpu="2", memory="1024Mi", gpus=1), "gpus", "1", "0 GPU(s)"),
    ],
)
def test_a_job_that_can_never_fit_is_bad_input_naming_field_value_and_limit(
    batch_hook, engine, requirement, field, value, limit
):
    with pytest.raises(BatchEksInvalidInputError) as caught:
        batch_hook.choose_queue([OD, SPOT], requirement)
    message = str(caught.value)
    assert caught.value.field == field
    assert f"Invalid {field} {value}" in message
    assert limit in message and "doeks-CE1_OD" in message
    assert api_calls(engine.url, "SubmitJob") == 0


def test_a_gpu_job_fits_a_gpu_compute_environment_up_to_its_largest_instance(batch_hook, batch):
    ce = batch.describe_compute_environments(computeEnvironments=["doeks-CE1_OD"])["computeEnvironments"][0]
    resources = {k: v for k, v in ce["computeResources"].items() if k not in ("desiredvCpus",)}
    batch.create_compute_environment(
        computeEnvironmentName="gpu-ce",
        type="MANAGED",
        eksConfiguration=ce["eksConfiguration"],
        computeResources={**resources, "instanceTypes": ["g4dn"], "maxvCpus": 96},
    )
    batch.create_job_queue(
        jobQueueName="gpu", priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "gpu-ce"}]
    )
    assert (
        batch_hook.check_queue("gpu", ResourceRequirement.of(cpu="4", memory="8192Mi", gpus=4)).name == "gpu"
    )
    with pytest.raises(BatchEksInvalidInputError, match=r"Invalid gpus 8: is more than the 4 GPU\(s\)"):
        batch_hook.check_queue("gpu", ResourceRequirement.of(cpu="4", memory="8192Mi", gpus=8))


def test_resource_requirement_reads_the_definition_and_the_override(batch_hook):
    request = {"jobName": "x", "jobQueue": OD, "jobDefinition": "doeks-hello-world"}
    assert batch_hook.resource_requirement(request) == ResourceRequirement.of(cpu="1", memory="1024Mi")
    request["eksPropertiesOverride"] = {
        "podProperties": {"containers": [{"resources": {"limits": {"cpu": "4", "memory": "8192Mi"}}}]}
    }
    assert batch_hook.resource_requirement(request) == ResourceRequirement.of(cpu="4", memory="8192Mi")


def _submit(batch_hook, name: str, tags: dict[str, str], command: str = "true") -> str:
    return batch_hook.submit_job(
        jobName=name,
        jobQueue=OD,
        jobDefinition="doeks-hello-world",
        tags=tags,
        eksPropertiesOverride={
            "podProperties": {"containers": [{"command": ["sh", "-c", command], "args": []}]}
        },
    )["jobId"]


def test_find_job_by_tags_finds_the_job_an_earlier_try_submitted(batch_hook, batch):
    run = str(uuid.uuid4())
    first = _submit(batch_hook, "etl", {"airflow-run": run, "airflow-try": "1"}, command="exit 1")
    second = _submit(batch_hook, "etl", {"airflow-run": run, "airflow-try": "2"}, command="sleep 30")
    _submit(batch_hook, "other", {"airflow-run": "another-run", "airflow-try": "2"})
    wait_for_job(batch, first)
    wait_for(lambda: batch_hook.describe_job(second)["status"] == "RUNNING", what="second job RUNNING")

    found = batch_hook.find_job_by_tags(OD, {"airflow-run": run, "airflow-try": "2"}, job_name="etl")
    assert found["jobId"] == second and found["status"] == "RUNNING"
    # the failed first try is not worth re-attaching to; with every status it is found
    assert batch_hook.find_job_by_tags(OD, {"airflow-run": run, "airflow-try": "1"}, job_name="etl") is None
    failed = batch_hook.find_job_by_tags(
        [SPOT, OD], {"airflow-run": run, "airflow-try": "1"}, job_name="etl", statuses=("FAILED",)
    )
    assert failed["jobId"] == first
    # without a name: ListJobs per status
    assert batch_hook.find_job_by_tags(OD, {"airflow-run": run, "airflow-try": "2"})["jobId"] == second
    created = batch_hook.describe_job(second)["createdAt"]
    assert (
        batch_hook.find_job_by_tags(OD, {"airflow-try": "2"}, job_name="etl", created_after_ms=created)[
            "jobId"
        ]
        == second
    )
    assert (
        batch_hook.find_job_by_tags(
            OD, {"airflow-try": "2"}, job_name="etl", created_after_ms=created + 60_000
        )
        is None
    )
    assert batch_hook.find_job_by_tags(OD, {"airflow-run": "another-run"}, job_name="etl") is None
    assert (
        batch_hook.find_job_by_tags(OD, {"airflow-run": "another-run"}, job_name="other")["jobName"]
        == "other"
    )
    batch_hook.terminate_job(second, "test over")
    assert wait_for_job(batch, second)["isTerminated"] is True


def test_describe_jobs_sends_at_most_100_ids_per_call(batch_hook, engine):
    real = _submit(batch_hook, "one", {})
    unknown = [str(uuid.uuid4()) for _ in range(249)]
    before = api_calls(engine.url, "DescribeJobs")
    found = batch_hook.describe_jobs(unknown + [real])
    assert list(found) == [real]
    assert api_calls(engine.url, "DescribeJobs") - before == 3


def test_cancel_job_fails_a_job_that_has_not_started(batch_hook, batch):
    blocker = _submit(batch_hook, "blocker", {}, command="sleep 30")
    waiting = batch_hook.submit_job(
        jobName="waits", jobQueue=OD, jobDefinition="doeks-hello-world", dependsOn=[{"jobId": blocker}]
    )["jobId"]
    batch_hook.cancel_job(waiting, "not needed")
    job = wait_for_job(batch, waiting)
    assert (job["status"], job["statusReason"], job["isCancelled"]) == ("FAILED", "not needed", True)
    batch_hook.terminate_job(blocker, "test over")


def _fair_share_queue(batch, name="fair"):
    policy = batch.create_scheduling_policy(
        name=f"{name}-policy",
        fairsharePolicy={"shareDistribution": [{"shareIdentifier": "team*", "weightFactor": 1.0}]},
    )
    batch.create_job_queue(
        jobQueueName=name,
        priority=1,
        schedulingPolicyArn=policy["arn"],
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "doeks-CE1_OD"}],
    )


def test_prepare_submit_request_checks_input_definition_queue_and_fit_without_submitting(
    batch_hook, batch, engine
):
    from batch_eks_provider.hooks.submit_request import SubmitRequestSpec

    batch.update_job_queue(jobQueue=OD, state="DISABLED")
    request, report = batch_hook.prepare_submit_request(
        SubmitRequestSpec(
            job_name="etl", job_queue=[OD, SPOT], job_definition="doeks-hello-world", cpu=2, memory="2048Mi"
        )
    )
    assert report.name == SPOT and request["jobQueue"] == SPOT
    assert request["eksPropertiesOverride"]["podProperties"]["containers"][0]["resources"] == {
        "limits": {"cpu": "2", "memory": "2048Mi"}
    }
    bad = [
        (dict(job_definition="no-such-definition"), "job_definition"),
        (dict(cpu="100m"), "cpu"),
        (dict(cpu="256"), "cpu"),
        (dict(job_queue=[]), "job_queue"),
    ]
    for changes, field in bad:
        spec = SubmitRequestSpec(
            **{**dict(job_name="etl", job_queue=[OD, SPOT], job_definition="doeks-hello-world"), **changes}
        )
        with pytest.raises(BatchEksInvalidInputError) as caught:
            batch_hook.prepare_submit_request(spec)
        assert caught.value.field == field
    with pytest.raises(BatchEksQueueUnavailableError, match="job queue nightly does not exist"):
        batch_hook.prepare_submit_request(
            SubmitRequestSpec(job_name="etl", job_queue="nightly", job_definition="doeks-hello-world")
        )
    assert api_calls(engine.url, "SubmitJob") == 0


def test_prepare_submit_request_matches_share_identifier_to_the_queue(batch_hook, batch):
    from batch_eks_provider.hooks.submit_request import SubmitRequestSpec

    _fair_share_queue(batch)
    base = dict(job_name="etl", job_definition="doeks-hello-world")
    with pytest.raises(
        BatchEksInvalidInputError,
        match="Invalid share_identifier None: is required: job queue fair has a fair-share",
    ):
        batch_hook.prepare_submit_request(SubmitRequestSpec(**base, job_queue="fair"))
    with pytest.raises(
        BatchEksInvalidInputError,
        match="Invalid share_identifier 'teamA': cannot be used: job queue doeks-JQ1_OD",
    ):
        batch_hook.prepare_submit_request(SubmitRequestSpec(**base, job_queue=OD, share_identifier="teamA"))
    request, _ = batch_hook.prepare_submit_request(
        SubmitRequestSpec(**base, job_queue="fair", share_identifier="teamA")
    )
    assert request["shareIdentifier"] == "teamA"
    batch.update_job_queue(jobQueue="fair", state="DISABLED")
    request, report = batch_hook.prepare_submit_request(
        SubmitRequestSpec(**base, job_queue=["fair", OD], share_identifier="teamA")
    )
    assert report.name == OD and "shareIdentifier" not in request
    assert wait_for_job(batch, batch_hook.submit_job(**request)["jobId"])["status"] == "SUCCEEDED"


def test_a_cpu_only_override_keeps_the_definition_memory_and_runs(batch_hook, batch):
    from batch_eks_provider.hooks.submit_request import SubmitRequestSpec

    request, _ = batch_hook.prepare_submit_request(
        SubmitRequestSpec(job_name="more-cpu", job_queue=OD, job_definition="doeks-hello-world", cpu="2")
    )
    container = request["eksPropertiesOverride"]["podProperties"]["containers"][0]
    assert container["resources"] == {"limits": {"cpu": "2", "memory": "1024Mi"}}
    job = wait_for_job(batch, batch_hook.submit_job(**request)["jobId"])
    assert job["status"] == "SUCCEEDED", job.get("statusReason")
    assert job["eksProperties"]["podProperties"]["containers"][0]["resources"]["limits"] == {
        "cpu": "2",
        "memory": "1024Mi",
    }


def _register_pod_definition(batch, name: str, pod_properties: dict) -> None:
    batch.register_job_definition(
        jobDefinitionName=name, type="container", eksProperties={"podProperties": pod_properties}
    )


def test_an_init_container_override_is_completed_and_submits(batch_hook, batch):
    """A cpu-only override of an init container keeps the definition's memory, so SubmitJob accepts it."""
    _register_pod_definition(
        batch,
        "with-init",
        {
            "initContainers": [
                {
                    "name": "init",
                    "image": "public.ecr.aws/docker/library/busybox:latest",
                    "command": ["true"],
                    "resources": {"limits": {"cpu": "0.5", "memory": "256Mi"}},
                }
            ],
            "containers": [
                {
                    "name": "main",
                    "image": "public.ecr.aws/docker/library/busybox:latest",
                    "command": ["echo", "hi"],
                    "resources": {"limits": {"cpu": "1", "memory": "512Mi"}},
                }
            ],
        },
    )
    from batch_eks_provider.hooks.batch import complete_override_resources

    request = {
        "jobName": "init-more-cpu",
        "jobQueue": OD,
        "jobDefinition": "with-init",
        "eksPropertiesOverride": {
            "podProperties": {
                "containers": [{"name": "main", "resources": {"limits": {"cpu": "2"}}}],
                "initContainers": [{"name": "init", "resources": {"limits": {"cpu": "2"}}}],
            }
        },
    }
    complete_override_resources(request, batch_hook.describe_job_definition("with-init"))
    pod = request["eksPropertiesOverride"]["podProperties"]
    assert pod["initContainers"][0]["resources"] == {"limits": {"cpu": "2", "memory": "256Mi"}}
    assert pod["containers"][0]["resources"] == {"limits": {"cpu": "2", "memory": "512Mi"}}
    job = batch.describe_jobs(jobs=[batch_hook.submit_job(**request)["jobId"]])["jobs"][0]
    assert job["eksProperties"]["podProperties"]["initContainers"][0]["resources"]["limits"] == {
        "cpu": "2",
        "memory": "256Mi",
    }


def test_describe_job_definition_finds_the_latest_of_more_than_one_page_of_revisions(batch_hook, batch):
    container = {
        "name": "main",
        "image": "public.ecr.aws/docker/library/busybox:latest",
        "command": ["true"],
        "resources": {"limits": {"cpu": "1", "memory": "512Mi"}},
    }
    for revision in range(1, 106):
        env = [{"name": "REVISION", "value": str(revision)}]
        _register_pod_definition(batch, "many-revisions", {"containers": [{**container, "env": env}]})
    latest = batch_hook.describe_job_definition("many-revisions")
    assert latest["revision"] == 105
    assert latest["eksProperties"]["podProperties"]["containers"][0]["env"] == [
        {"name": "REVISION", "value": "105"}
    ]
