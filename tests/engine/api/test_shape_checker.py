"""The shape checker itself: it must catch what it is there to catch."""

from __future__ import annotations

import botocore.session

from tests.engine.api.shapes import shape_problems

MODEL = botocore.session.get_session().get_service_model("batch")


def output(operation: str):
    return MODEL.operation_model(operation).output_shape


def test_a_faithful_body_has_no_problems():
    body = {"jobSummaryList": [{"jobId": "j", "jobName": "n", "createdAt": 1700000000000, "status": "RUNNING",
                                "arrayProperties": {"size": 2}, "isCancelled": True}]}
    assert shape_problems(body, output("ListJobs")) == []


def test_unknown_keys_wrong_types_missing_required_and_bad_enums_are_reported():
    body = {"jobSummaryList": [{"jobName": "n", "createdAt": 1.5, "status": "DONE", "isCancelled": "yes", "extra": 1}],
            "nextToken": 3}
    problems = shape_problems(body, output("ListJobs"))
    assert any("unknown key 'extra'" in p for p in problems)
    assert any("createdAt: expected an integer" in p for p in problems)
    assert any("'DONE' is not one of JobStatus" in p for p in problems)
    assert any("isCancelled: expected a boolean" in p for p in problems)
    assert any("required key 'jobId'" in p for p in problems)
    assert any("nextToken: expected a string" in p for p in problems)


def test_booleans_are_not_integers_and_maps_are_checked():
    body = {"jobDefinitions": [{"jobDefinitionName": "d", "jobDefinitionArn": "a", "revision": True, "type": "container",
                                "tags": {"k": 1}}]}
    problems = shape_problems(body, output("DescribeJobDefinitions"))
    assert any("revision: expected an integer" in p for p in problems)
    assert any("tags['k']: expected a string" in p for p in problems)
