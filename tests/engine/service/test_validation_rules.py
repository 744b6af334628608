"""AWS Batch's validation rules, through boto3: each breach is a ClientException whose message names
the field, the value and the rule."""

from __future__ import annotations

import re

import pytest

from batch_eks_provider.local import LocalEngine

@pytest.fixture(scope="module")
def engine():
    """One engine for the whole module: a refused request changes nothing."""
    with LocalEngine(blueprint="data-on-eks") as running:
        yield running


CLUSTER = "arn:aws:eks:us-east-1:123456789012:cluster/doeks-batch"
POD = {"containers": [{"image": "busybox", "command": ["true"], "resources": {"limits": {"cpu": "0.25", "memory": "64Mi"}}}]}
SUBMIT = {"jobName": "j", "jobQueue": "doeks-JQ1_OD", "jobDefinition": "doeks-hello-world"}


def containers(resources=None, env=None, count=1):
    container = {"image": "busybox", "command": ["true"], "resources": resources or {"limits": {"cpu": "1", "memory": "64Mi"}}}
    if env is not None:
        container["env"] = env
    return {"podProperties": {"containers": [dict(container, name=f"c{i}") for i in range(count)]}}


def ce_request(name="ce-x", namespace="ns-x", **resources):
    compute = {"type": "EC2", "allocationStrategy": "BEST_FIT_PROGRESSIVE", "maxvCpus": 4, **resources}
    compute = {k: v for k, v in compute.items() if v is not None}
    return {
        "computeEnvironmentName": name,
        "type": "MANAGED",
        "eksConfiguration": {"eksClusterArn": CLUSTER, "kubernetesNamespace": namespace},
        "computeResources": compute,
    }


CASES = [
    ("submit_job", {**SUBMIT, "jobName": "-starts-with-dash"}, r"Invalid jobName '-starts-with-dash'.*first character must be alphanumeric"),
    ("submit_job", {**SUBMIT, "jobName": "x" * 129}, r"Invalid jobName 'x{129}': up to 128"),
    ("submit_job", {**SUBMIT, "dependsOn": [{"jobId": f"j{i}"} for i in range(21)]}, r"dependsOn has 21 entries.*at most 20"),
    ("submit_job", {**SUBMIT, "arrayProperties": {"size": 1}}, r"arrayProperties.size 1: must be between 2 and 10000"),
    ("submit_job", {**SUBMIT, "arrayProperties": {"size": 10001}}, r"arrayProperties.size 10001: must be between 2 and 10000"),
    ("submit_job", {**SUBMIT, "retryStrategy": {"attempts": 11}}, r"retryStrategy.attempts 11: must be between 1 and 10"),
    ("submit_job", {**SUBMIT, "retryStrategy": {"attempts": 0}}, r"retryStrategy.attempts 0: must be between 1 and 10"),
    ("submit_job", {**SUBMIT, "retryStrategy": {"attempts": 2, "evaluateOnExit": [{"action": "RETRY", "onExitCode": "1"}] * 6}},
     r"6 given, at most 5"),
    ("submit_job", {**SUBMIT, "retryStrategy": {"evaluateOnExit": [{"action": "EXIT", "onReason": "*"}]}},
     r"retryStrategy.attempts is required when retryStrategy.evaluateOnExit is given"),
    ("submit_job", {**SUBMIT, "retryStrategy": {"attempts": 2, "evaluateOnExit": [{"action": "RETRY", "onExitCode": "1*2"}]}},
     r"onExitCode '1\*2': the only wildcard allowed is a trailing"),
    ("submit_job", {**SUBMIT, "retryStrategy": {"attempts": 2, "evaluateOnExit": [{"action": "MAYBE"}]}},
     r"evaluateOnExit\[0\].action: 'MAYBE' is not one of RETRY, EXIT"),
    ("list_jobs", {"jobQueue": "doeks-JQ1_OD", "jobStatus": "DONE"}, r"jobStatus: 'DONE' is not one of SUBMITTED, PENDING"),
    ("create_compute_environment", ce_request(type="GPU"), r"computeResources.type: 'GPU' is not one of EC2, SPOT, FARGATE, FARGATE_SPOT"),
    ("submit_job", {**SUBMIT, "timeout": {"attemptDurationSeconds": 59}}, r"attemptDurationSeconds 59: the minimum timeout is 60"),
    ("submit_job", {**SUBMIT, "eksPropertiesOverride": {"podProperties": {"containers": [{"env": [{"name": "AWS_BATCH_X", "value": "1"}]}]}}},
     r"environment variable name 'AWS_BATCH_X'.*reserved"),
    ("submit_job", {**SUBMIT, "eksPropertiesOverride": {"podProperties": {"containers": [{"resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]}}},
     r"cpu value '100m'.*millicpu"),
    ("submit_job", {**SUBMIT, "eksPropertiesOverride": {"podProperties": {"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}}},
     r"memory value '1Gi'.*'Mi' suffix"),
    ("submit_job", {**SUBMIT, "eksPropertiesOverride": {"podProperties": {"containers": [{"resources": {"limits": {"cpu": "1", "memory": "64Mi"}, "requests": {"memory": "32Mi"}}}]}}},
     r"memory.*requests \('32Mi'\) must equal limits \('64Mi'\)"),
    ("submit_job", {**SUBMIT, "eksPropertiesOverride": {"podProperties": {"containers": [{"resources": {"limits": {"cpu": "1", "memory": "64Mi"}, "requests": {"cpu": "2"}}}]}}},
     r"cpu.*requests \('2'\) must not exceed limits \('1'\)"),
    ("submit_job", {**SUBMIT, "eksPropertiesOverride": {"podProperties": {"containers": [{"resources": {"limits": {"cpu": "0.3", "memory": "64Mi"}}}]}}},
     r"cpu value '0.3'.*multiple of 0.25"),
    ("submit_job", {**SUBMIT, "eksPropertiesOverride": {"podProperties": {"metadata": {"namespace": "kube-system"}}}},
     r"metadata.namespace 'kube-system'.*must not be 'default' or start with 'kube-'"),
    ("submit_job", {**SUBMIT, "shareIdentifier": "teamA"}, r"shareIdentifier 'teamA' cannot be used: job queue 'doeks-JQ1_OD' has no fair-share"),
    ("submit_job", {**SUBMIT, "schedulingPriorityOverride": 10000}, r"schedulingPriorityOverride 10000: must be between 0 and 9999"),
    ("submit_job", {**SUBMIT, "tags": {f"k{i}": "v" for i in range(51)}}, r"Too many tags: 51 given, at most 50"),
    ("submit_job", {**SUBMIT, "tags": {"aws:owner": "me"}}, r"tag key 'aws:owner'.*reserved"),
    ("submit_job", {**SUBMIT, "jobQueue": "no-such-queue"}, r"Job queue 'no-such-queue' does not exist"),
    ("submit_job", {**SUBMIT, "containerOverrides": {"command": ["x"]}}, r"containerOverrides cannot be used with an EKS job definition"),
    ("register_job_definition", {"jobDefinitionName": "d", "type": "container", "eksProperties": containers(count=11)},
     r"containers has 11 containers; at most 10"),
    ("register_job_definition", {"jobDefinitionName": "d", "type": "container", "eksProperties": containers(), "platformCapabilities": ["EC2"]},
     r"platformCapabilities \['EC2'\]: platformCapabilities cannot be set on a job definition that uses eksProperties"),
    ("register_job_definition", {"jobDefinitionName": "d", "type": "container", "eksProperties": containers(), "propagateTags": True},
     r"propagateTags True"),
    ("register_job_definition", {"jobDefinitionName": "d", "type": "container", "eksProperties": containers(),
                                 "containerProperties": {"image": "busybox"}}, r"containerProperties"),
    ("register_job_definition", {"jobDefinitionName": "d", "type": "container", "eksProperties": containers(resources={"limits": {"cpu": "1"}})},
     r"must specify a memory value"),
    ("register_job_definition", {"jobDefinitionName": "d", "type": "container", "eksProperties": containers(), "timeout": {"attemptDurationSeconds": 30}},
     r"attemptDurationSeconds 30"),
    ("register_job_definition", {"jobDefinitionName": "d", "type": "container",
                                 "eksProperties": {"podProperties": {**POD, "dnsPolicy": "Sometimes"}}}, r"dnsPolicy 'Sometimes'"),
    ("register_job_definition", {"jobDefinitionName": "d", "type": "container", "eksProperties": containers(), "schedulingPriority": 10000},
     r"schedulingPriority 10000: must be between 0 and 9999"),
    ("create_compute_environment", ce_request(namespace="default"), r"kubernetesNamespace 'default'"),
    ("create_compute_environment", ce_request(namespace="kube-batch"), r"kubernetesNamespace 'kube-batch'"),
    ("create_compute_environment", ce_request(namespace="Bad_NS"), r"kubernetesNamespace 'Bad_NS'.*\^\[a-z0-9\]"),
    ("create_compute_environment", ce_request(namespace="n" * 64), r"1 to 63 characters"),
    ("create_compute_environment", ce_request(allocationStrategy=None), r"allocationStrategy None: EKS compute environments require BEST_FIT_PROGRESSIVE or SPOT_CAPACITY_OPTIMIZED"),
    ("create_compute_environment", ce_request(allocationStrategy="SPOT_PRICE_CAPACITY_OPTIMIZED"), r"allocationStrategy 'SPOT_PRICE_CAPACITY_OPTIMIZED'"),
    ("create_compute_environment", ce_request(allocationStrategy="SPOT_CAPACITY_OPTIMIZED"), r"SPOT_CAPACITY_OPTIMIZED applies to SPOT"),
    ("create_compute_environment", ce_request(minvCpus=8), r"minvCpus \(8\) must not be greater than maxvCpus \(4\)"),
    ("create_compute_environment", {**ce_request(), "eksConfiguration": {"eksClusterArn": "my-cluster", "kubernetesNamespace": "ns"}},
     r"eksClusterArn 'my-cluster': not an EKS cluster ARN"),
    ("create_compute_environment", {**ce_request(name="doeks-CE1_OD")}, r"already exists.*'doeks-CE1_OD'"),
    ("create_job_queue", {"jobQueueName": "q4", "priority": 1, "computeEnvironmentOrder": [
        {"order": i, "computeEnvironment": ce} for i, ce in enumerate(["doeks-CE1_OD", "doeks-CE1_SPOT", "doeks-CE1_OD", "doeks-CE1_SPOT"])]},
     r"computeEnvironmentOrder has 4 entries; a job queue can use at most 3"),
    ("create_job_queue", {"jobQueueName": "q2", "priority": 1, "computeEnvironmentOrder": [
        {"order": 1, "computeEnvironment": "doeks-CE1_OD"}, {"order": 1, "computeEnvironment": "doeks-CE1_SPOT"}]},
     r"two entries with the same order"),
    ("create_job_queue", {"jobQueueName": "q", "priority": 1, "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "nope"}]},
     r"Compute environment 'nope' does not exist"),
    ("create_job_queue", {"jobQueueName": "q", "priority": 1, "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "doeks-CE1_OD"}],
                          "jobStateTimeLimitActions": [{"reason": "r", "state": "RUNNABLE", "maxTimeSeconds": 60, "action": "CANCEL"}]},
     r"maxTimeSeconds 60: must be between 600 and 86400"),
    ("create_scheduling_policy", {"name": "p", "fairsharePolicy": {"computeReservation": 100}}, r"computeReservation 100: must be between 0 and 99"),
    ("create_scheduling_policy", {"name": "p", "fairsharePolicy": {"shareDecaySeconds": 604801}}, r"shareDecaySeconds 604801"),
    ("create_scheduling_policy", {"name": "p", "fairsharePolicy": {"shareDistribution": [{"shareIdentifier": "a", "weightFactor": 0.0}]}},
     r"weightFactor 0.0: must be between 0.0001 and 999.9999"),
    ("create_scheduling_policy", {"name": "p", "fairsharePolicy": {"shareDistribution": [{"shareIdentifier": "UserA*"}, {"shareIdentifier": "UserA1"}]}},
     r"shareIdentifier 'UserA1': it overlaps 'UserA\*'"),
    ("create_scheduling_policy", {"name": "p", "fairsharePolicy": {"shareDistribution": [{"shareIdentifier": "team-a"}]}},
     r"shareIdentifier 'team-a': a share identifier is up to 255 alphanumeric"),
    ("list_jobs", {"jobQueue": "doeks-JQ1_OD", "arrayJobId": "x"}, r"Exactly one of jobQueue, arrayJobId or multiNodeJobId.*jobQueue, arrayJobId"),
    ("list_jobs", {"jobQueue": "doeks-JQ1_OD", "filters": [{"name": "STATUS", "values": ["x"]}]}, r"Invalid filter name 'STATUS'"),
    ("list_jobs", {"jobQueue": "doeks-JQ1_OD", "filters": [{"name": "AFTER_CREATED_AT", "values": ["yesterday"]}]},
     r"AFTER_CREATED_AT filter value 'yesterday'"),
    ("describe_jobs", {"jobs": [f"j{i}" for i in range(101)]}, r"^Maximum number of jobs supported is 100$"),
    ("describe_job_queues", {"jobQueues": ["doeks-JQ1_OD"], "maxResults": 101}, r"maxResults 101: must be between 1 and 100"),
    ("terminate_jobs", {"jobs": [f"j{i}" for i in range(51)], "reason": "r"}, r"jobs lists 51 job ids; at most 50"),
    ("cancel_job", {"jobId": "nope", "reason": "x" * 1025}, r"reason: 1025 characters, at most 1024"),
    ("tag_resource", {"resourceArn": "arn:aws:batch:us-east-1:123456789012:job-queue/doeks-JQ1_OD",
                      "tags": {f"k{i}": "v" for i in range(51)}}, r"Too many tags: 51 given"),
    ("list_tags_for_resource", {"resourceArn": "arn:aws:s3:::bucket"}, r"Invalid resourceArn 'arn:aws:s3:::bucket'"),
    ("submit_job", {**SUBMIT, "timeout": {"attemptDurationSeconds": 2**31}},
     r"timeout.attemptDurationSeconds: 2147483648 is out of range: Integer must be between -2147483648 and 2147483647"),
    ("submit_job", {**SUBMIT, "eksPropertiesOverride": {"podProperties": {"containers": [{"resources": {"limits": {"cpu": "NaN", "memory": "64Mi"}}}]}}},
     r"cpu value 'NaN'.*not a number.*NaN and Infinity are not allowed"),
    ("submit_job", {**SUBMIT, "eksPropertiesOverride": {"podProperties": {"containers": [{"resources": {"limits": {"cpu": "1e10", "memory": "64Mi"}}}]}}},
     r"cpu value '1e10'.*at most 2147483647 vCPUs"),
    ("create_scheduling_policy", {"name": "p", "fairsharePolicy": {"shareDistribution": [{"shareIdentifier": "a", "weightFactor": float("inf")}]}},
     r"weightFactor: 'Infinity' is not a finite number"),
]


@pytest.mark.parametrize(("operation", "request_params", "message"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_breaches_name_field_value_and_rule(batch, operation, request_params, message):
    with pytest.raises(batch.exceptions.ClientException) as raised:
        getattr(batch, operation)(**request_params)
    assert re.search(message, raised.value.response["Error"]["Message"]), raised.value.response["Error"]["Message"]


def test_retry_actions_are_read_without_regard_to_case(batch):
    job = batch.submit_job(**SUBMIT, retryStrategy={"attempts": 2, "evaluateOnExit": [{"onExitCode": "1", "action": "retry"}]})
    assert batch.describe_jobs(jobs=[job["jobId"]])["jobs"][0]["retryStrategy"]["evaluateOnExit"][0]["action"] == "RETRY"
