"""Every Batch operation the engine serves, through boto3, each response checked against botocore's
output shape (the ``batch`` fixture fails the test on any mismatch)."""

from __future__ import annotations

from batch_eks_provider.local.api.batch import OPERATIONS
from tests.engine.api.shapes import ResponseShapeRecorder
from tests.support.waits import wait_for, wait_for_job

CLUSTER = "arn:aws:eks:us-east-1:123456789012:cluster/doeks-batch"
FAILING_POD = {
    "containers": [
        {"image": "public.ecr.aws/amazonlinux/amazonlinux:2", "command": ["sh", "-c", "exit 7"],
         "resources": {"limits": {"cpu": "0.25", "memory": "64Mi"}}}
    ]
}


def test_every_operation_answers_in_botocore_shapes(batch, shapes: ResponseShapeRecorder):
    ce = batch.create_compute_environment(
        computeEnvironmentName="ops-ce",
        type="MANAGED",
        state="ENABLED",
        eksConfiguration={"eksClusterArn": CLUSTER, "kubernetesNamespace": "ops-ns"},
        computeResources={"type": "EC2", "allocationStrategy": "BEST_FIT_PROGRESSIVE", "minvCpus": 0, "maxvCpus": 8,
                          "instanceTypes": ["m5"], "subnets": ["subnet-1"], "securityGroupIds": ["sg-1"]},
        tags={"team": "ops"},
    )
    batch.update_compute_environment(computeEnvironment="ops-ce", computeResources={"maxvCpus": 16})
    policy = batch.create_scheduling_policy(
        name="ops-fair",
        fairsharePolicy={"shareDecaySeconds": 3600, "computeReservation": 10,
                         "shareDistribution": [{"shareIdentifier": "teamA", "weightFactor": 0.5}, {"shareIdentifier": "teamB*"}]},
        tags={"kind": "fair"},
    )
    batch.update_scheduling_policy(arn=policy["arn"], fairsharePolicy={"shareDecaySeconds": 600, "computeReservation": 5})
    queue = batch.create_job_queue(
        jobQueueName="ops-jq", priority=5, schedulingPolicyArn=policy["arn"],
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce["computeEnvironmentArn"]}],
        jobStateTimeLimitActions=[{"reason": "stuck", "state": "RUNNABLE", "maxTimeSeconds": 600, "action": "CANCEL"}],
    )
    batch.update_job_queue(jobQueue="ops-jq", priority=6)
    definition = batch.register_job_definition(
        jobDefinitionName="ops-fails", type="container", eksProperties={"podProperties": FAILING_POD},
        retryStrategy={"attempts": 2, "evaluateOnExit": [{"onExitCode": "7", "action": "RETRY"}]},
        tags={"owner": "ops"},
    )

    fair = batch.submit_job(jobName="fair", jobQueue="ops-jq", jobDefinition="doeks-hello-world", shareIdentifier="teamA")
    finished = batch.submit_job(jobName="hello", jobQueue="doeks-JQ1_OD", jobDefinition="doeks-hello-world", tags={"a": "b"})
    array = batch.submit_job(jobName="array", jobQueue="doeks-JQ1_OD", jobDefinition="doeks-hello-world", arrayProperties={"size": 2})
    retried = batch.submit_job(jobName="retried", jobQueue="doeks-JQ1_OD", jobDefinition=definition["jobDefinitionArn"])

    done = wait_for_job(batch, finished["jobId"])
    assert done["status"] == "SUCCEEDED" and done["eksAttempts"][0]["containers"][0]["reason"] == "Completed"
    parent = wait_for_job(batch, array["jobId"])
    assert parent["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 2
    child = batch.describe_jobs(jobs=[f"{array['jobId']}:1"])["jobs"][0]
    assert child["arrayProperties"] == {"index": 1}
    failed = wait_for_job(batch, retried["jobId"])
    assert failed["status"] == "FAILED" and len(failed["eksAttempts"]) == 2
    assert [a["containers"][0]["exitCode"] for a in failed["eksAttempts"]] == [7, 7]

    batch.describe_jobs(jobs=[fair["jobId"], finished["jobId"], array["jobId"], f"{array['jobId']}:0", retried["jobId"]])
    assert batch.list_jobs(jobQueue="doeks-JQ1_OD", jobStatus="SUCCEEDED")["jobSummaryList"]
    batch.list_jobs(jobQueue="doeks-JQ1_OD")
    batch.list_jobs(arrayJobId=array["jobId"], jobStatus="SUCCEEDED")
    batch.list_jobs(jobQueue="doeks-JQ1_OD", filters=[{"name": "JOB_NAME", "values": ["ret*"]}])
    batch.describe_job_definitions(jobDefinitionName="ops-fails")
    batch.describe_job_definitions(jobDefinitions=["doeks-hello-world:1"])
    batch.describe_job_queues(jobQueues=["ops-jq", "doeks-JQ1_OD"])
    batch.describe_compute_environments(computeEnvironments=["ops-ce"])
    batch.describe_scheduling_policies(arns=[policy["arn"]])
    batch.list_scheduling_policies()

    batch.tag_resource(resourceArn=queue["jobQueueArn"], tags={"env": "test"})
    assert batch.list_tags_for_resource(resourceArn=queue["jobQueueArn"])["tags"] == {"env": "test"}
    batch.untag_resource(resourceArn=queue["jobQueueArn"], tagKeys=["env"])

    batch.cancel_job(jobId=fair["jobId"], reason="no longer needed")
    batch.terminate_job(jobId=finished["jobId"], reason="already done")
    batch.cancel_jobs(jobs=[fair["jobId"]], reason="bulk cancel")
    batch.terminate_jobs(jobs=[fair["jobId"], "no-such-job"], reason="bulk terminate")
    batch.deregister_job_definition(jobDefinition=definition["jobDefinitionArn"])
    snapshot = batch.get_job_queue_snapshot(jobQueue="ops-jq")
    assert snapshot["queueUtilization"]["totalCapacityUsage"][0]["capacityUnit"] == "cpu"
    batch.update_job_queue(jobQueue="ops-jq", state="DISABLED")
    wait_for_job(batch, fair["jobId"])
    batch.delete_job_queue(jobQueue="ops-jq")
    wait_for(lambda: not batch.describe_job_queues(jobQueues=["ops-jq"])["jobQueues"], what="queue deleted")
    batch.delete_scheduling_policy(arn=policy["arn"])
    batch.update_compute_environment(computeEnvironment="ops-ce", state="DISABLED")
    batch.delete_compute_environment(computeEnvironment="ops-ce")
    batch.describe_compute_environments()

    served = {name for name, _ in OPERATIONS.values()} | {"TagResource", "UntagResource", "ListTagsForResource"}
    assert served - set(shapes.operations) == set()
