"""Scheduling policies, tags, and the limits on compute environments and queues, through boto3."""

from __future__ import annotations

import pytest

from batch_eks_provider.local import LocalEngine
from tests.engine.api.shapes import ResponseShapeRecorder

CLUSTER = "arn:aws:eks:us-east-1:123456789012:cluster/doeks-batch"
ACCOUNT_ARN = "arn:aws:batch:us-east-1:123456789012"


def create_ce(batch, name: str, cluster: str = CLUSTER, tags: dict | None = None) -> dict:
    return batch.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        eksConfiguration={"eksClusterArn": cluster, "kubernetesNamespace": "ns-" + name.lower()},
        computeResources={"type": "EC2", "allocationStrategy": "BEST_FIT_PROGRESSIVE", "maxvCpus": 4},
        tags=tags or {},
    )


def test_a_cluster_takes_at_most_five_compute_environments(batch):
    for name in ("ce3", "ce4", "ce5"):  # the blueprint made two on doeks-batch
        create_ce(batch, name)
    with pytest.raises(batch.exceptions.ClientException, match=r"already has 5 compute environments .*at most 5 are allowed per cluster"):
        create_ce(batch, "ce6")
    create_ce(batch, "ce6", cluster="arn:aws:eks:us-east-1:123456789012:cluster/other")


def test_scheduling_policy_lifecycle(batch):
    arn = batch.create_scheduling_policy(
        name="fair", fairsharePolicy={"shareDecaySeconds": 0, "shareDistribution": [{"shareIdentifier": "blue", "weightFactor": 2.5}]}
    )["arn"]
    assert arn == f"{ACCOUNT_ARN}:scheduling-policy/fair"
    with pytest.raises(batch.exceptions.ClientException, match="Object already exists: scheduling policy 'fair'"):
        batch.create_scheduling_policy(name="fair")
    (policy,) = batch.describe_scheduling_policies(arns=[arn, f"{ACCOUNT_ARN}:scheduling-policy/unknown"])["schedulingPolicies"]
    assert policy == {"name": "fair", "arn": arn, "tags": {},
                      "fairsharePolicy": {"shareDecaySeconds": 0, "shareDistribution": [{"shareIdentifier": "blue", "weightFactor": 2.5}]}}
    batch.update_scheduling_policy(arn=arn, fairsharePolicy={"computeReservation": 50})
    assert batch.describe_scheduling_policies(arns=[arn])["schedulingPolicies"][0]["fairsharePolicy"] == {"computeReservation": 50}

    batch.create_job_queue(jobQueueName="fair-q", priority=1, schedulingPolicyArn=arn,
                           computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "doeks-CE1_OD"}])
    with pytest.raises(batch.exceptions.ClientException, match="Cannot delete scheduling policy 'fair': it is used by job queue\\(s\\) fair-q"):
        batch.delete_scheduling_policy(arn=arn)
    with pytest.raises(batch.exceptions.ClientException, match="shareIdentifier is required: job queue 'fair-q'"):
        batch.submit_job(jobName="j", jobQueue="fair-q", jobDefinition="doeks-hello-world")
    job = batch.submit_job(jobName="j", jobQueue="fair-q", jobDefinition="doeks-hello-world", shareIdentifier="blue",
                           schedulingPriorityOverride=5)
    detail = batch.describe_jobs(jobs=[job["jobId"]])["jobs"][0]
    assert (detail["shareIdentifier"], detail["schedulingPriority"]) == ("blue", 5)
    with pytest.raises(batch.exceptions.ClientException, match="a FIFO queue cannot become a fair-share queue"):
        batch.update_job_queue(jobQueue="doeks-JQ1_OD", schedulingPolicyArn=arn)
    with pytest.raises(batch.exceptions.ClientException, match="Scheduling policy .*nope' does not exist"):
        batch.create_job_queue(jobQueueName="q2", priority=1, schedulingPolicyArn=f"{ACCOUNT_ARN}:scheduling-policy/nope",
                               computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "doeks-CE1_OD"}])


def test_list_scheduling_policies_pages(batch):
    arns = [batch.create_scheduling_policy(name=f"p{i}")["arn"] for i in range(5)]
    first = batch.list_scheduling_policies(maxResults=2)
    assert len(first["schedulingPolicies"]) == 2 and first["nextToken"]
    seen = [p["arn"] for p in first["schedulingPolicies"]]
    token = first["nextToken"]
    while token:
        page = batch.list_scheduling_policies(maxResults=2, nextToken=token)
        seen += [p["arn"] for p in page["schedulingPolicies"]]
        token = page.get("nextToken")
    assert sorted(seen) == sorted(arns)
    paginated = [p["arn"] for page in batch.get_paginator("list_scheduling_policies").paginate(PaginationConfig={"PageSize": 3})
                 for p in page["schedulingPolicies"]]
    assert sorted(paginated) == sorted(arns)


def test_tags_on_every_taggable_resource(batch):
    ce = create_ce(batch, "tagged", tags={"made": "create"})["computeEnvironmentArn"]
    queue = f"{ACCOUNT_ARN}:job-queue/doeks-JQ1_OD"
    definition = batch.describe_job_definitions(jobDefinitionName="doeks-hello-world")["jobDefinitions"][0]["jobDefinitionArn"]
    policy = batch.create_scheduling_policy(name="tagged")["arn"]
    job = batch.submit_job(jobName="t", jobQueue="doeks-JQ1_OD", jobDefinition="doeks-hello-world", tags={"made": "submit"})["jobArn"]
    assert batch.list_tags_for_resource(resourceArn=ce)["tags"] == {"made": "create"}
    assert batch.list_tags_for_resource(resourceArn=job)["tags"] == {"made": "submit"}
    for arn in (ce, queue, definition, policy, job):
        batch.tag_resource(resourceArn=arn, tags={"team": "data", "cost": "42"})
        batch.untag_resource(resourceArn=arn, tagKeys=["cost", "not-there"])
        assert batch.list_tags_for_resource(resourceArn=arn)["tags"].get("team") == "data"
        assert "cost" not in batch.list_tags_for_resource(resourceArn=arn)["tags"]
    assert batch.describe_compute_environments(computeEnvironments=[ce])["computeEnvironments"][0]["tags"] == {"made": "create", "team": "data"}
    assert batch.describe_job_queues(jobQueues=[queue])["jobQueues"][0]["tags"] == {"team": "data"}
    assert batch.describe_jobs(jobs=[job.rsplit("/", 1)[1]])["jobs"][0]["tags"] == {"made": "submit", "team": "data"}
    assert batch.describe_scheduling_policies(arns=[policy])["schedulingPolicies"][0]["tags"] == {"team": "data"}

    batch.tag_resource(resourceArn=queue, tags={f"k{i}": "v" for i in range(49)})  # 50 in all
    with pytest.raises(batch.exceptions.ClientException, match=r"Too many tags on .*doeks-JQ1_OD: 51 after this request"):
        batch.tag_resource(resourceArn=queue, tags={"one-more": "v"})
    with pytest.raises(batch.exceptions.ClientException, match="child jobs of array"):
        batch.list_tags_for_resource(resourceArn=job + ":0")
    with pytest.raises(batch.exceptions.ClientException, match="does not exist"):
        batch.tag_resource(resourceArn=f"{ACCOUNT_ARN}:job/00000000-0000-0000-0000-000000000000", tags={"a": "b"})


def test_tags_and_policies_survive_a_restart(tmp_path):
    recorder = ResponseShapeRecorder()
    import boto3

    def client(url):
        return recorder.attach(boto3.client("batch", endpoint_url=url, region_name="us-east-1",
                                            aws_access_key_id="testing", aws_secret_access_key="testing"))

    with LocalEngine(blueprint="data-on-eks", state_dir=tmp_path) as first:
        batch = client(first.url)
        policy = batch.create_scheduling_policy(name="kept", fairsharePolicy={"computeReservation": 7}, tags={"a": "1"})["arn"]
        batch.tag_resource(resourceArn=f"{ACCOUNT_ARN}:job-queue/doeks-JQ1_OD", tags={"kept": "yes"})
    with LocalEngine(blueprint="data-on-eks", state_dir=tmp_path) as second:
        batch = client(second.url)
        assert batch.list_tags_for_resource(resourceArn=f"{ACCOUNT_ARN}:job-queue/doeks-JQ1_OD")["tags"] == {"kept": "yes"}
        (restored,) = batch.describe_scheduling_policies(arns=[policy])["schedulingPolicies"]
        assert restored["fairsharePolicy"] == {"computeReservation": 7} and restored["tags"] == {"a": "1"}
    assert recorder.problems == []


def test_delete_rules_for_queues_and_compute_environments(batch):
    with pytest.raises(batch.exceptions.ClientException, match="Cannot delete job queue 'doeks-JQ1_OD': it must be DISABLED first"):
        batch.delete_job_queue(jobQueue="doeks-JQ1_OD")
    batch.update_compute_environment(computeEnvironment="doeks-CE1_OD", state="DISABLED")
    with pytest.raises(batch.exceptions.ClientException, match="still used by job queue\\(s\\) doeks-JQ1_OD"):
        batch.delete_compute_environment(computeEnvironment="doeks-CE1_OD")
    batch.update_job_queue(jobQueue="doeks-JQ1_OD", state="DISABLED")
    with pytest.raises(batch.exceptions.ClientException, match="Job queue 'doeks-JQ1_OD' is DISABLED: a queue that is not ENABLED accepts no new jobs"):
        batch.submit_job(jobName="late", jobQueue="doeks-JQ1_OD", jobDefinition="doeks-hello-world")


def test_a_job_carries_its_own_tags_not_its_definitions(batch):
    pod = {"podProperties": {"containers": [{"image": "busybox", "command": ["true"], "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}]}}
    definition = batch.register_job_definition(jobDefinitionName="tagged-def", type="container", eksProperties=pod, tags={"def": "1"})
    job = batch.submit_job(jobName="j", jobQueue="doeks-JQ1_OD", jobDefinition="tagged-def", tags={"job": "1"})
    assert batch.describe_jobs(jobs=[job["jobId"]])["jobs"][0]["tags"] == {"job": "1"}
    assert batch.list_tags_for_resource(resourceArn=definition["jobDefinitionArn"])["tags"] == {"def": "1"}
    assert batch.describe_job_definitions(jobDefinitions=["tagged-def:1"])["jobDefinitions"][0]["tags"] == {"def": "1"}


def test_update_compute_environment_checks_everything_before_changing_anything(batch):
    def describe():
        return batch.describe_compute_environments(computeEnvironments=["doeks-CE1_OD"])["computeEnvironments"][0]

    with pytest.raises(batch.exceptions.ClientException, match=r"minvCpus \(300\) must not be greater than maxvCpus \(128\)"):
        batch.update_compute_environment(computeEnvironment="doeks-CE1_OD", state="DISABLED", computeResources={"minvCpus": 300})
    assert describe()["state"] == "ENABLED" and describe()["computeResources"]["minvCpus"] == 0
    with pytest.raises(batch.exceptions.ClientException, match=r"allocationStrategy 'SPOT_PRICE_CAPACITY_OPTIMIZED': EKS"):
        batch.update_compute_environment(computeEnvironment="doeks-CE1_OD", computeResources={"allocationStrategy": "SPOT_PRICE_CAPACITY_OPTIMIZED"})
    with pytest.raises(batch.exceptions.ClientException, match=r"computeResources.type 'SPOT'.*cannot be changed"):
        batch.update_compute_environment(computeEnvironment="doeks-CE1_OD", computeResources={"type": "SPOT"})
    batch.update_compute_environment(computeEnvironment="doeks-CE1_OD", computeResources={"minvCpus": 2, "maxvCpus": 64})
    resources = describe()["computeResources"]
    assert (resources["minvCpus"], resources["maxvCpus"], resources["desiredvCpus"]) == (2, 64, 2)


def test_update_job_queue_checks_everything_before_changing_anything(batch):
    with pytest.raises(batch.exceptions.ClientException, match="Compute environment 'gone' does not exist"):
        batch.update_job_queue(jobQueue="doeks-JQ1_OD", state="DISABLED", priority=9,
                               computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "gone"}])
    (queue,) = batch.describe_job_queues(jobQueues=["doeks-JQ1_OD"])["jobQueues"]
    assert (queue["state"], queue["priority"]) == ("ENABLED", 1)
    batch.update_job_queue(jobQueue="doeks-JQ1_OD", priority=9, computeEnvironmentOrder=[
        {"order": 2, "computeEnvironment": "doeks-CE1_OD"}, {"order": 1, "computeEnvironment": "doeks-CE1_SPOT"}])
    (queue,) = batch.describe_job_queues(jobQueues=["doeks-JQ1_OD"])["jobQueues"]
    assert queue["priority"] == 9
    assert [o["computeEnvironment"].rsplit("/", 1)[1] for o in sorted(queue["computeEnvironmentOrder"], key=lambda o: o["order"])] == [
        "doeks-CE1_SPOT", "doeks-CE1_OD"]
