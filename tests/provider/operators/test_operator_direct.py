"""Each bad input fails the operator with a message naming field, value and rule, and sends no SubmitJob."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from batch_eks_provider.exceptions import BatchEksInvalidInputError, BatchEksQueueUnavailableError
from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator
from tests.dags.batch_eks_e2e import BAD_INPUT
from tests.support.metrics import api_requests

EXPECTED = {
    "millicores": (BatchEksInvalidInputError, "cpu", "100m"),
    "memory_without_mi": (BatchEksInvalidInputError, "memory", "512"),
    "unknown_queue": (BatchEksQueueUnavailableError, "no-such-queue", "does not exist"),
    "bad_job_name": (BatchEksInvalidInputError, "job_name", "bad name!"),
    "array_of_one": (BatchEksInvalidInputError, "array_size", "2 to 10000"),
    "short_timeout": (BatchEksInvalidInputError, "timeout", "60"),
    "too_many_dependencies": (BatchEksInvalidInputError, "depends_on", "20"),
    "priority_out_of_range": (BatchEksInvalidInputError, "scheduling_priority", "10000"),
    "unknown_definition": (BatchEksInvalidInputError, "job_definition", "no-such-definition"),
    "negative_gpus": (BatchEksInvalidInputError, "gpus", "-1"),
    "reserved_env": (BatchEksInvalidInputError, "env", "AWS_BATCH"),
    "unsplittable_command": (BatchEksInvalidInputError, "command", "unclosed"),
    "too_big_for_any_instance": (BatchEksInvalidInputError, "cpu", "512"),
    "nan_gpus": (BatchEksInvalidInputError, "gpus", "whole number"),
    "infinite_array_size": (BatchEksInvalidInputError, "array_size", "whole number"),
    "nan_poll_interval": (BatchEksInvalidInputError, "poll_interval", "must be a number"),
    "word_exit_code": (BatchEksInvalidInputError, "permanent_exit_codes", "'two'"),
    "tags_over_the_limit_with_airflow_tags": (BatchEksInvalidInputError, "tags", "a DAG may set at most 45"),
    "zero_poll_interval": (BatchEksInvalidInputError, "poll_interval", "more than 0"),
}


def context() -> dict:
    """The part of a task's context the operator reads before it submits (Airflow's boundary)."""
    ti = SimpleNamespace(dag_id="bad_input", run_id="manual__1", task_id="t", map_index=-1, xcom_push=lambda **_: None)
    return {"ti": ti}


def test_every_bad_input_case_has_an_expectation():
    assert set(EXPECTED) == set(BAD_INPUT)


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_rejected_naming_field_value_and_rule(case, aws_default):
    change = BAD_INPUT[case]
    operator = BatchEksSubmitJobOperator(
        task_id=case,
        **{"job_name": f"bad_{case}", "job_queue": "doeks-JQ1_OD", "job_definition": "doeks-hello-world", "command": ["sh", "-c", "echo never"], "args": [], "deferrable": False, **change},
    )
    error_type, field, detail = EXPECTED[case]
    with pytest.raises(error_type) as raised:
        operator.execute(context())
    message = str(raised.value)
    assert field in message and detail in message, message
    assert api_requests(aws_default.url, "SubmitJob") == 0


@pytest.mark.parametrize("count, fails", [(44, False), (45, True), (50, True)])
def test_the_airflow_tags_count_against_the_50_tag_limit_before_any_call(count, fails, aws_default):
    operator = BatchEksSubmitJobOperator(
        task_id="tagged", job_name="tagged", job_queue="doeks-JQ1_OD", job_definition="doeks-hello-world",
        tags={f"team-{i}": "x" for i in range(count)}, wait_for_completion=False, deferrable=False,
    )
    if not fails:
        job_id = operator.execute(context())
        tags = aws_default_batch(aws_default).describe_jobs(jobs=[job_id])["jobs"][0]["tags"]
        assert len(tags) == 50 and tags["airflow:try_number"] == "1" and tags["airflow:task_succeeded"] == "1"
        return
    with pytest.raises(BatchEksInvalidInputError) as raised:
        operator.execute(context())
    # a task that does not wait adds six: identity (4), try number, and the success mark
    assert f"{count} tags plus 6 Airflow tags" in str(raised.value) and "may set at most 44" in str(raised.value)
    assert api_requests(aws_default.url, None) == 0  # not one call: no describe, no SubmitJob


def aws_default_batch(engine):
    from tests.support.aws import aws_client

    return aws_client("batch", engine.url)


def test_a_param_rendered_as_a_string_list_is_read_back_as_a_list():
    from batch_eks_provider.operators.request import as_list

    assert as_list("command", "['sh', '-c', 'echo hi']") == ["sh", "-c", "echo hi"]
    assert as_list("command", "echo 'two words'") == ["echo", "two words"]
    assert as_list("command", ["a", 1]) == ["a", "1"]


def test_on_kill_terminates_the_running_job(aws_default, batch):
    import threading

    from batch_eks_provider.exceptions import BatchEksJobCancelledError
    from tests.support.waits import wait_for

    operator = BatchEksSubmitJobOperator(
        task_id="killed", job_name="killed", job_queue="doeks-JQ1_OD", job_definition="doeks-hello-world",
        command=["sh", "-c", "sleep 60"], args=[], deferrable=False, poll_interval=0.2,
    )
    raised: list[BaseException] = []

    def run():
        try:
            operator.execute(context())
        except BaseException as error:  # noqa: BLE001 - the test inspects it
            raised.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    wait_for(lambda: operator.job_id and batch.describe_jobs(jobs=[operator.job_id])["jobs"][0]["status"] == "RUNNING",
             timeout=30, what="the job to run")
    operator.on_kill()
    worker.join(timeout=30)
    (job,) = batch.describe_jobs(jobs=[operator.job_id])["jobs"]
    assert job["status"] == "FAILED" and job["isTerminated"] is True
    assert job["statusReason"] == "Terminated by Airflow: the task was killed"
    assert len(raised) == 1 and isinstance(raised[0], BatchEksJobCancelledError)
    assert operator.job_id in str(raised[0])


def test_a_deferred_wait_that_timed_out_terminates_the_job_before_failing(aws_default, batch):
    from airflow.sdk.exceptions import TaskDeferralTimeout

    from batch_eks_provider.operators.submit import JOB_ID_XCOM_KEY
    from tests.support.waits import wait_for_job

    job_id = batch.submit_job(
        jobName="waited_too_long", jobQueue="doeks-JQ1_OD", jobDefinition="doeks-hello-world",
        eksPropertiesOverride={"podProperties": {"containers": [{"command": ["sh", "-c", "sleep 60"], "args": []}]}},
    )["jobId"]
    wait_for_job(batch, job_id, statuses=("RUNNING",))
    operator = BatchEksSubmitJobOperator(
        task_id="deferred", job_name="waited_too_long", job_queue="doeks-JQ1_OD", job_definition="doeks-hello-world",
        deferrable=True, max_wait=60,
    )
    pulled = {}

    def xcom_pull(task_ids, key, map_indexes):
        pulled.update(task_ids=task_ids, key=key, map_indexes=map_indexes)
        return job_id

    ctx = context()
    ctx["ti"].xcom_pull = xcom_pull
    with pytest.raises(TaskDeferralTimeout):
        operator.resume_execution("__fail__", {"error": "Trigger timeout"}, ctx)
    assert pulled == {"task_ids": "deferred", "key": JOB_ID_XCOM_KEY, "map_indexes": -1}
    job = wait_for_job(batch, job_id)
    assert job["isTerminated"] is True and "max_wait" in job["statusReason"]


def test_deferrable_defaults_to_airflow_operators_default_deferrable(monkeypatch):
    kwargs = {"job_name": "j", "job_queue": "q", "job_definition": "d"}
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "true")
    assert BatchEksSubmitJobOperator(task_id="a", **kwargs).deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "false")
    assert BatchEksSubmitJobOperator(task_id="b", **kwargs).deferrable is False
    assert BatchEksSubmitJobOperator(task_id="c", deferrable=True, **kwargs).deferrable is True


def test_the_connection_and_region_are_templated():
    from batch_eks_provider.sensors.batch import BatchEksComputeEnvironmentSensor, BatchEksJobQueueSensor, BatchEksJobSensor

    for cls in (BatchEksSubmitJobOperator, BatchEksJobSensor, BatchEksComputeEnvironmentSensor, BatchEksJobQueueSensor):
        assert {"aws_conn_id", "region_name"} <= set(cls.template_fields), cls.__name__
