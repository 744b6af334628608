"""SubmitRequestSpec -> SubmitJob request: every bad input named (field, value, rule); a good spec built exactly."""

from __future__ import annotations

import datetime

import pytest

from batch_eks_provider.exceptions import BatchEksInvalidInputError
from batch_eks_provider.retry_strategy import RetryStrategy
from batch_eks_provider.hooks.submit_request import SubmitRequestSpec, build_submit_request, normalize_job_queues
from tests.support.waits import wait_for_job

BASE = dict(job_name="nightly-etl", job_queue="doeks-JQ1_OD", job_definition="doeks-hello-world")

# (id, changes to BASE, field named in the error, value quoted in the error)
BAD_INPUTS = [
    ("name-space", dict(job_name="my job"), "job_name", "my job"),
    ("name-leading-dash", dict(job_name="-etl"), "job_name", "-etl"),
    ("name-too-long", dict(job_name="a" * 129), "job_name", "a" * 129),
    ("queue-empty", dict(job_queue=""), "job_queue", ""),
    ("definition-missing", dict(job_definition=None), "job_definition", None),
    ("cpu-millicores", dict(cpu="100m"), "cpu", "100m"),
    ("cpu-not-quarter", dict(cpu="0.3"), "cpu", "0.3"),
    ("cpu-too-small", dict(cpu=0), "cpu", 0),
    ("cpu-word", dict(cpu="two"), "cpu", "two"),
    ("memory-no-suffix", dict(memory="2048"), "memory", "2048"),
    ("memory-gi", dict(memory="2Gi"), "memory", "2Gi"),
    ("memory-too-small", dict(memory="2Mi"), "memory", "2Mi"),
    ("gpus-negative", dict(gpus=-1), "gpus", -1),
    ("gpus-fraction", dict(gpus=0.5), "gpus", 0.5),
    ("command-string", dict(command="python main.py"), "command", "python main.py"),
    ("args-dict-item", dict(args=["--x", {"a": 1}]), "args", {"a": 1}),
    ("env-reserved", dict(env={"AWS_BATCH_JOB_ID": "x"}), "env", "AWS_BATCH_JOB_ID"),
    ("env-not-dict", dict(env=["A=1"]), "env", ["A=1"]),
    (
        "override-unknown-key",
        dict(eks_properties_override={"containers": []}),
        "eks_properties_override",
        {"containers": []},
    ),
    (
        "override-bad-cpu",
        dict(
            eks_properties_override={
                "podProperties": {"containers": [{"resources": {"limits": {"cpu": "500m"}}}]}
            }
        ),
        "eks_properties_override.podProperties.containers[0].resources.limits.cpu",
        "500m",
    ),
    (
        "override-conflicts-with-cpu",
        dict(
            cpu="2",
            eks_properties_override={
                "podProperties": {"containers": [{"resources": {"limits": {"cpu": "1"}}}]}
            },
        ),
        "cpu",
        "2",
    ),
    (
        "override-conflicts-with-command",
        dict(command=["a"], eks_properties_override={"podProperties": {"containers": [{"command": ["b"]}]}}),
        "command",
        ["a"],
    ),
    (
        "depends-on-too-many",
        dict(depends_on=[f"job-{i}" for i in range(21)]),
        "depends_on",
        "21 dependencies",
    ),
    (
        "depends-on-bad-type",
        dict(depends_on=[{"jobId": "abc", "type": "ALL"}], array_size=3),
        "depends_on[0].type",
        "ALL",
    ),
    (
        "depends-on-n-to-n-without-array",
        dict(depends_on=[{"jobId": "abc", "type": "N_TO_N"}]),
        "depends_on[0].type",
        "N_TO_N",
    ),
    ("depends-on-empty-id", dict(depends_on=[""]), "depends_on[0].jobId", ""),
    ("array-size-one", dict(array_size=1), "array_size", 1),
    ("array-size-too-big", dict(array_size=10001), "array_size", 10001),
    ("array-size-bool", dict(array_size=True), "array_size", True),
    ("retry-attempts-zero", dict(retry_strategy={"attempts": 0}), "retry_strategy.attempts", 0),
    ("retry-attempts-eleven", dict(retry_strategy={"attempts": 11}), "retry_strategy.attempts", 11),
    ("retry-not-a-strategy", dict(retry_strategy="spot"), "retry_strategy", "spot"),
    (
        "retry-wildcard-inside",
        dict(
            retry_strategy={
                "attempts": 2,
                "evaluateOnExit": [{"onStatusReason": "Host*EC2", "action": "RETRY"}],
            }
        ),
        "retry_strategy.evaluateOnExit[0].onStatusReason",
        "Host*EC2",
    ),
    (
        "retry-exit-code-letters",
        dict(retry_strategy={"attempts": 2, "evaluateOnExit": [{"onExitCode": "1a", "action": "EXIT"}]}),
        "retry_strategy.evaluateOnExit[0].onExitCode",
        "1a",
    ),
    (
        "retry-bad-action",
        dict(retry_strategy={"attempts": 2, "evaluateOnExit": [{"onExitCode": "1", "action": "IGNORE"}]}),
        "retry_strategy.evaluateOnExit[0].action",
        "IGNORE",
    ),
    ("timeout-too-short", dict(timeout=59), "timeout", 59),
    (
        "timeout-timedelta-short",
        dict(timeout=datetime.timedelta(seconds=30)),
        "timeout",
        datetime.timedelta(seconds=30),
    ),
    ("timeout-bad-dict", dict(timeout={"seconds": 100}), "timeout", {"seconds": 100}),
    ("share-identifier-star", dict(share_identifier="team*"), "share_identifier", "team*"),
    ("priority-too-high", dict(scheduling_priority=10000), "scheduling_priority", 10000),
    ("priority-negative", dict(scheduling_priority=-1), "scheduling_priority", -1),
    ("tags-too-many", dict(tags={f"k{i}": "v" for i in range(51)}), "tags", "51 tags"),
    ("tag-key-too-long", dict(tags={"k" * 129: "v"}), "tags key", "k" * 129),
    ("tag-key-aws-prefix", dict(tags={"aws:owner": "me"}), "tags key", "aws:owner"),
    ("tag-value-too-long", dict(tags={"team": "x" * 257}), "tags.team", "x" * 257),
    ("parameter-not-string", dict(parameters={"date": 20260101}), "parameters.date", 20260101),
    ("payload-too-large", dict(parameters={"blob": "x" * 31000}), "request", "31"),
]


@pytest.mark.parametrize(
    "changes, field, value", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_bad_input_is_rejected_naming_field_value_and_rule(changes, field, value):
    with pytest.raises(BatchEksInvalidInputError) as caught:
        build_submit_request(SubmitRequestSpec(**{**BASE, **changes}))
    error = caught.value
    message = str(error)
    assert error.field == field
    assert field in message
    assert (repr(value) if not isinstance(value, str) or value != "31" else "31") in message
    assert error.rule and error.rule in message


def test_the_bad_input_table_has_at_least_25_cases():
    assert len(BAD_INPUTS) >= 25
    assert len({case[0] for case in BAD_INPUTS}) == len(BAD_INPUTS)


def test_a_full_spec_builds_exactly_the_wire_request():
    spec = SubmitRequestSpec(
        job_name="nightly-etl",
        job_queue="doeks-JQ1_OD",
        job_definition="doeks-hello-world:1",
        command=["python", "etl.py"],
        args=["--date", 20260101],
        env={"STAGE": "prod", "WORKERS": 4},
        cpu=1.5,
        memory="3072Mi",
        gpus="0",
        eks_properties_override={
            "podProperties": {
                "containers": [
                    {
                        "image": "public.ecr.aws/docker/library/python:3.12",
                        "env": [{"name": "LOG", "value": "debug"}],
                    }
                ],
                "metadata": {"labels": {"team": "data"}},
            }
        },
        depends_on=["job-a", {"jobId": "job-b", "type": "N_TO_N"}, {"type": "SEQUENTIAL"}],
        array_size=4,
        retry_strategy=RetryStrategy.spot_only(3),
        timeout=datetime.timedelta(minutes=30),
        share_identifier="teamA",
        scheduling_priority=10,
        tags={"owner": "data"},
        parameters={"date": "2026-01-01"},
    )
    assert build_submit_request(spec) == {
        "jobName": "nightly-etl",
        "jobQueue": "doeks-JQ1_OD",
        "jobDefinition": "doeks-hello-world:1",
        "eksPropertiesOverride": {
            "podProperties": {
                "containers": [
                    {
                        "image": "public.ecr.aws/docker/library/python:3.12",
                        "command": ["python", "etl.py"],
                        "args": ["--date", "20260101"],
                        "env": [
                            {"name": "LOG", "value": "debug"},
                            {"name": "STAGE", "value": "prod"},
                            {"name": "WORKERS", "value": "4"},
                        ],
                        "resources": {"limits": {"cpu": "1.5", "memory": "3072Mi", "nvidia.com/gpu": "0"}},
                    }
                ],
                "metadata": {"labels": {"team": "data"}},
            }
        },
        "arrayProperties": {"size": 4},
        "dependsOn": [{"jobId": "job-a"}, {"jobId": "job-b", "type": "N_TO_N"}, {"type": "SEQUENTIAL"}],
        "retryStrategy": {
            "attempts": 3,
            "evaluateOnExit": [
                {"onStatusReason": "Host EC2*", "action": "RETRY"},
                {"onReason": "*", "action": "EXIT"},
            ],
        },
        "timeout": {"attemptDurationSeconds": 1800},
        "shareIdentifier": "teamA",
        "schedulingPriorityOverride": 10,
        "tags": {"owner": "data"},
        "parameters": {"date": "2026-01-01"},
    }


def test_a_minimal_spec_sends_only_the_three_required_fields():
    assert build_submit_request(SubmitRequestSpec(**BASE)) == {
        "jobName": "nightly-etl",
        "jobQueue": "doeks-JQ1_OD",
        "jobDefinition": "doeks-hello-world",
    }


def test_the_raw_override_is_not_modified_by_merging_shorthands():
    raw = {"podProperties": {"containers": [{"image": "img"}]}}
    build_submit_request(SubmitRequestSpec(**BASE, cpu=1, eks_properties_override=raw))
    assert raw == {"podProperties": {"containers": [{"image": "img"}]}}


@pytest.mark.parametrize(
    "value, rule",
    [
        ([], "non-empty list"),
        (["a", "a"], "same queue twice"),
        (["a", "b", "c", "d"], "at most 3"),
        ([None], "non-empty name"),
    ],
)
def test_job_queue_lists_are_checked(value, rule):
    with pytest.raises(BatchEksInvalidInputError, match=rule) as caught:
        normalize_job_queues(value)
    assert caught.value.field == "job_queue"


def test_job_queue_list_keeps_its_order():
    assert normalize_job_queues("q") == ["q"]
    assert normalize_job_queues(["b", "a"]) == ["b", "a"]


def test_the_built_request_is_accepted_and_run_by_the_engine(batch):
    request = build_submit_request(
        SubmitRequestSpec(
            **BASE,
            command=["/bin/sh", "-c"],
            args=['test "$STAGE" = prod'],
            env={"STAGE": "prod"},
            cpu="0.5",
            memory="256Mi",
            retry_strategy=RetryStrategy.spot_only(2),
            timeout=120,
            tags={"owner": "data"},
        )
    )
    job = wait_for_job(batch, batch.submit_job(**request)["jobId"])
    assert job["status"] == "SUCCEEDED", job.get("statusReason")
    assert job["tags"]["owner"] == "data"
    assert job["retryStrategy"]["attempts"] == 2
    assert job["timeout"] == {"attemptDurationSeconds": 120}


def test_no_api_call_at_all_is_made_for_any_bad_input(aws_default):
    from batch_eks_provider.hooks.batch import BatchEksHook
    from tests.support.metrics import api_requests as api_calls

    hook = BatchEksHook(aws_conn_id="aws_default")
    for case_id, changes, field, _ in BAD_INPUTS:
        with pytest.raises(BatchEksInvalidInputError) as caught:
            hook.prepare_submit_request(SubmitRequestSpec(**{**BASE, **changes}))
        assert caught.value.field == field, case_id
    assert api_calls(aws_default.url) == 0
