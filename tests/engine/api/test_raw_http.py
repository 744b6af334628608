"""What a client other than boto3 can send: wrong types, missing members, bad JSON, huge bodies.

boto3 validates before sending, so these go over raw HTTP (urllib). Every answer must be an AWS-style
error (status, ``x-amzn-ErrorType``, ``{"__type", "message"}``) naming the member, and the engine must
keep serving afterwards.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest

SUBMIT = {"jobName": "raw", "jobQueue": "doeks-JQ1_OD", "jobDefinition": "doeks-hello-world"}


def assert_client_error(response, *fragments: str) -> str:
    assert response.status == 400, (response.status, response.body)
    assert response.error_type == "ClientException"
    body = response.json
    assert body["__type"] == "ClientException"
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    return body["message"]


@pytest.mark.parametrize(
    ("path", "body", "fragments"),
    [
        ("/v1/submitjob", {**SUBMIT, "jobName": 5}, ["jobName", "5 is a number", "expected a string"]),
        ("/v1/submitjob", {"jobQueue": "doeks-JQ1_OD", "jobDefinition": "x"}, ["Missing required parameter 'jobName'"]),
        ("/v1/submitjob", {**SUBMIT, "arrayProperties": {"size": "3"}}, ["arrayProperties.size", "'3' is a string", "expected an integer"]),
        ("/v1/submitjob", {**SUBMIT, "retryStrategy": {"attempts": True}}, ["retryStrategy.attempts", "boolean"]),
        ("/v1/submitjob", {**SUBMIT, "dependsOn": [{"jobId": 1}]}, ["dependsOn[0].jobId"]),
        ("/v1/submitjob", {**SUBMIT, "tags": {"k": 1}}, ["tags.k"]),
        ("/v1/submitjob", {**SUBMIT, "dependsOn": {"jobId": "x"}}, ["dependsOn", "expected a list"]),
        ("/v1/describejobs", {"jobs": "abc"}, ["jobs", "expected a list"]),
        ("/v1/describejobs", {}, ["Missing required parameter 'jobs'"]),
        ("/v1/createjobqueue", {"jobQueueName": "q", "priority": "high"}, ["priority", "'high' is a string"]),
        ("/v1/createschedulingpolicy", {"name": "p", "fairsharePolicy": {"shareDistribution": [{"weightFactor": 1}]}},
         ["Missing required parameter 'shareIdentifier' in fairsharePolicy.shareDistribution[0]"]),
        ("/v1/listjobs", {"jobQueue": "doeks-JQ1_OD", "maxResults": 1.5}, ["maxResults", "expected an integer"]),
    ],
)
def test_members_of_the_wrong_type_or_missing_are_named(raw, path, body, fragments):
    assert_client_error(raw(path, json.dumps(body)), *fragments)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"jobs": ["a"]', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, not list"),
        (b'"text"', "must be a JSON object, not str"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[" * 200_000 + b"]" * 200_000, "not valid JSON"),
    ],
)
def test_malformed_bodies_get_a_client_exception_and_the_engine_keeps_serving(raw, body, fragment):
    assert_client_error(raw("/v1/describejobs", body), fragment)
    assert raw("/v1/describejobqueues", "{}").status == 200


def test_an_oversized_body_is_refused_and_the_engine_keeps_serving(raw):
    huge = json.dumps({**SUBMIT, "parameters": {"blob": "x" * (2 * 1024 * 1024)}})
    assert_client_error(raw("/v1/submitjob", huge), "larger than the 1048576 bytes allowed")
    assert raw("/v1/describejobqueues", "{}").status == 200


def test_a_submit_payload_over_30_kib_is_refused(raw):
    big = json.dumps({**SUBMIT, "parameters": {"blob": "x" * (31 * 1024)}})
    assert_client_error(raw("/v1/submitjob", big), "maximum payload size is 30 KiB")


def test_null_members_count_as_absent_and_unknown_members_are_ignored(raw):
    response = raw("/v1/submitjob", json.dumps({**SUBMIT, "timeout": None, "shareIdentifier": None, "someFutureField": 1}))
    assert response.status == 200, response.body
    assert set(response.json) == {"jobArn", "jobName", "jobId"}


def test_an_unknown_operation_or_method_is_a_client_exception(raw):
    assert_client_error(raw("/v1/describeeverything", "{}"), "describeeverything")
    assert_client_error(raw("/v1/describejobs", method="GET"), "DescribeJobs is called with POST /v1/describejobs, not GET")


def test_tags_routes_take_the_url_encoded_arn(raw, engine):
    arn = "arn:aws:batch:us-east-1:123456789012:job-queue/doeks-JQ1_OD"
    path = "/v1/tags/" + urllib.parse.quote(arn, safe="")
    assert raw(path, json.dumps({"tags": {"a": "1", "b": "2"}})).status == 200
    assert raw(path + "?tagKeys=a", method="DELETE").status == 200
    assert raw(path, method="GET").json == {"tags": {"b": "2"}}
    assert_client_error(raw(path, json.dumps({"tags": "nope"})), "tags", "expected an object")
    missing = "/v1/tags/" + urllib.parse.quote(arn + "-gone", safe="")
    assert_client_error(raw(missing, method="GET"), "does not exist")


def test_an_engine_bug_answers_500_server_exception_not_a_client_error(raw, monkeypatch):
    """A KeyError inside the engine is the engine's fault: 500 ServerException (retryable), not a 400."""
    from batch_eks_provider.local.api import batch as batch_api

    def broken(engine, params):
        return {}["a bug"]

    monkeypatch.setitem(batch_api.OPERATIONS, "listschedulingpolicies", ("ListSchedulingPolicies", broken))
    response = raw("/v1/listschedulingpolicies", "{}")
    assert (response.status, response.error_type) == (500, "ServerException")
    assert "KeyError" in response.json["message"]
    assert raw("/v1/describejobqueues", "{}").status == 200  # still serving


def test_a_cloudwatch_logs_member_of_the_wrong_type_is_named(raw):
    response = raw(
        "/",
        json.dumps({"logGroupName": "g", "logStreamName": "s", "limit": "ten"}),
        headers={"X-Amz-Target": "Logs_20140328.GetLogEvents", "Content-Type": "application/x-amz-json-1.1"},
    )
    assert (response.status, response.error_type) == (400, "InvalidParameterException")
    assert "limit" in response.json["message"]
