"""ListJobs (the RUNNING-only default, filters, order, pages), bulk stop, and the paginated describes."""

from __future__ import annotations

import pytest

from tests.support.waits import wait_for, wait_for_job

QUEUE = "doeks-JQ1_OD"
SLEEP = {"podProperties": {"containers": [{"command": ["sleep", "30"], "args": []}]}}


def submit(batch, name: str, **extra) -> str:
    return batch.submit_job(jobName=name, jobQueue=QUEUE, jobDefinition="doeks-hello-world", **extra)["jobId"]


def names(response) -> list[str]:
    return [j["jobName"] for j in response["jobSummaryList"]]


def test_list_jobs_statuses_filters_and_bulk_stop(batch):
    sleeper = submit(batch, "Sleeper", eksPropertiesOverride=SLEEP)
    hello = submit(batch, "hello")
    wait_for_job(batch, sleeper, statuses=("RUNNING",))
    wait_for_job(batch, hello)
    waiting = submit(batch, "waiting", dependsOn=[{"jobId": sleeper}])
    wait_for_job(batch, waiting, statuses=("PENDING",))

    assert names(batch.list_jobs(jobQueue=QUEUE)) == ["Sleeper"]  # no status, no filter: RUNNING only
    assert names(batch.list_jobs(jobQueue=QUEUE, jobStatus="SUCCEEDED")) == ["hello"]
    assert names(batch.list_jobs(jobQueue=QUEUE, jobStatus="PENDING")) == ["waiting"]
    # a filter ignores jobStatus and lists the newest first
    assert names(batch.list_jobs(jobQueue=QUEUE, jobStatus="RUNNING", filters=[{"name": "JOB_NAME", "values": ["*"]}])) == [
        "waiting", "hello", "Sleeper"]
    assert names(batch.list_jobs(jobQueue=QUEUE, filters=[{"name": "JOB_NAME", "values": ["sLEEPER"]}])) == ["Sleeper"]
    assert names(batch.list_jobs(jobQueue=QUEUE, filters=[{"name": "JOB_NAME", "values": ["h*"]}])) == ["hello"]
    definition = batch.describe_jobs(jobs=[hello])["jobs"][0]["jobDefinition"]
    assert len(batch.list_jobs(jobQueue=QUEUE, filters=[{"name": "JOB_DEFINITION", "values": ["doeks-hello-world"]}])["jobSummaryList"]) == 3
    assert len(batch.list_jobs(jobQueue=QUEUE, filters=[{"name": "JOB_DEFINITION", "values": [definition]}])["jobSummaryList"]) == 3
    assert batch.list_jobs(jobQueue=QUEUE, filters=[{"name": "JOB_DEFINITION", "values": [definition[:-1] + "9"]}])["jobSummaryList"] == []
    assert batch.list_jobs(jobQueue=QUEUE, filters=[{"name": "JOB_DEFINITION", "values": ["doeks-h*"]}])["jobSummaryList"]
    created = batch.describe_jobs(jobs=[hello])["jobs"][0]["createdAt"]
    assert "Sleeper" not in names(batch.list_jobs(jobQueue=QUEUE, filters=[{"name": "AFTER_CREATED_AT", "values": [str(created - 1)]}]))
    assert names(batch.list_jobs(jobQueue=QUEUE, filters=[{"name": "BEFORE_CREATED_AT", "values": [str(created)]}])) == ["Sleeper"]

    cancelled = batch.cancel_jobs(jobs=[waiting, "unknown-job"], reason="not needed")
    assert cancelled == {"successful": [waiting, "unknown-job"], "errors": [], "ResponseMetadata": cancelled["ResponseMetadata"]}
    batch.cancel_jobs(jobs=[sleeper], reason="cancel does not touch a RUNNING job")
    assert batch.describe_jobs(jobs=[sleeper])["jobs"][0]["status"] == "RUNNING"
    assert batch.terminate_jobs(jobs=[sleeper], reason="stop now")["successful"] == [sleeper]
    stopped = wait_for_job(batch, sleeper)
    assert (stopped["status"], stopped["statusReason"], stopped["isTerminated"]) == ("FAILED", "stop now", True)
    gone = wait_for_job(batch, waiting)
    assert gone["status"] == "FAILED" and gone["isCancelled"] is True
    summary = batch.list_jobs(jobQueue=QUEUE, jobStatus="FAILED")["jobSummaryList"]
    assert {(s["jobName"], s.get("isTerminated", False), s.get("isCancelled", False)) for s in summary} == {
        ("Sleeper", True, False), ("waiting", False, True)}


def test_list_jobs_pages_and_array_children(batch):
    ids = [submit(batch, f"page-{i}") for i in range(5)]
    parent = submit(batch, "arr", arrayProperties={"size": 3})
    for job_id in ids + [parent]:
        wait_for_job(batch, job_id)
    first = batch.list_jobs(jobQueue=QUEUE, jobStatus="SUCCEEDED", maxResults=2)
    assert len(first["jobSummaryList"]) == 2 and first["nextToken"]
    pages = batch.get_paginator("list_jobs").paginate(jobQueue=QUEUE, filters=[{"name": "JOB_NAME", "values": ["page-*"]}],
                                                       PaginationConfig={"PageSize": 2})
    listed = [s["jobId"] for page in pages for s in page["jobSummaryList"]]
    assert listed == list(reversed(ids))
    children = batch.list_jobs(arrayJobId=parent, jobStatus="SUCCEEDED")["jobSummaryList"]
    assert sorted(c["arrayProperties"]["index"] for c in children) == [0, 1, 2]
    assert batch.list_jobs(arrayJobId=parent)["jobSummaryList"] == []  # none RUNNING any more
    assert [s["arrayProperties"] for s in batch.list_jobs(jobQueue=QUEUE, jobStatus="SUCCEEDED")["jobSummaryList"]
            if s["jobId"] == parent] == [{"size": 3}]
    with pytest.raises(batch.exceptions.ClientException, match="Invalid nextToken"):
        batch.list_jobs(jobQueue=QUEUE, jobStatus="SUCCEEDED", nextToken="garbage!")


def test_job_definitions_revisions_status_and_pages(batch):
    pod = {"podProperties": {"containers": [{"image": "busybox", "command": ["true"], "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}]}}
    revisions = [batch.register_job_definition(jobDefinitionName="multi", type="container", eksProperties=pod)["revision"] for _ in range(3)]
    assert revisions == [1, 2, 3]
    batch.deregister_job_definition(jobDefinition="multi:2")
    active = batch.describe_job_definitions(jobDefinitionName="multi", status="ACTIVE")["jobDefinitions"]
    assert [d["revision"] for d in active] == [1, 3]
    assert [d["status"] for d in batch.describe_job_definitions(jobDefinitions=["multi:2"])["jobDefinitions"]] == ["INACTIVE"]
    with pytest.raises(batch.exceptions.ClientException, match="'multi:2' does not exist or is not ACTIVE"):
        batch.submit_job(jobName="j", jobQueue=QUEUE, jobDefinition="multi:2")
    job = batch.submit_job(jobName="j", jobQueue=QUEUE, jobDefinition="multi")
    assert batch.describe_jobs(jobs=[job["jobId"]])["jobs"][0]["jobDefinition"].endswith("job-definition/multi:3")
    pages = batch.get_paginator("describe_job_definitions").paginate(PaginationConfig={"PageSize": 1})
    assert sorted((d["jobDefinitionName"], d["revision"]) for page in pages for d in page["jobDefinitions"]) == [
        ("doeks-hello-world", 1), ("multi", 1), ("multi", 2), ("multi", 3)]
    queues = batch.get_paginator("describe_job_queues").paginate(PaginationConfig={"PageSize": 1})
    assert sorted(q["jobQueueName"] for page in queues for q in page["jobQueues"]) == ["doeks-JQ1_OD", "doeks-JQ1_SPOT"]
    ces = batch.get_paginator("describe_compute_environments").paginate(PaginationConfig={"PageSize": 1})
    assert sorted(c["computeEnvironmentName"] for page in ces for c in page["computeEnvironments"]) == ["doeks-CE1_OD", "doeks-CE1_SPOT"]
