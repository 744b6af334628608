"""Test-only DAGs for the provider's end-to-end tests (tests/provider_e2e/), run with ``dag.test()``.

Nothing here talks to AWS or the engine at parse time: every DAG only declares operators.
Commands are short shell one-liners and polls are 0.2 s, so each run takes a few seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from batch_eks_provider.operators.batch import BatchEksScaleComputeEnvironmentOperator, BatchEksSubmitJobOperator
from batch_eks_provider.retry_strategy import RetryStrategy
from batch_eks_provider.sensors.batch import BatchEksJobSensor

QUEUE = "doeks-JQ1_OD"
SPOT_QUEUE = "doeks-JQ1_SPOT"
DEFINITION = "doeks-hello-world"
FAST = {"poll_interval": 0.2, "job_definition": DEFINITION, "args": []}
COMMON = {"start_date": datetime(2024, 1, 1), "schedule": None, "catchup": False, "tags": ["batch-eks-e2e"]}


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


with DAG(
    dag_id="batch_eks_e2e_basic",
    params={
        "command": Param("echo from-params", type="string"),
        "cpu": Param("0.5", type="string"),
        "memory": Param("256Mi", type="string"),
    },
    **COMMON,
) as basic_dag:
    BatchEksSubmitJobOperator(
        task_id="sync",
        job_name="e2e_sync",
        job_queue=QUEUE,
        command="{{ params.command }}",
        cpu="{{ params.cpu }}",
        memory="{{ params.memory }}",
        deferrable=False,
        **FAST,
    )
    BatchEksSubmitJobOperator(
        task_id="deferred", job_name="e2e_deferred", job_queue=QUEUE, command=sh("echo deferred"), deferrable=True, **FAST
    )

with DAG(dag_id="batch_eks_e2e_chain", **COMMON) as chain_dag:
    first = BatchEksSubmitJobOperator(
        task_id="first", job_name="chain_first", job_queue=QUEUE, command=sh("echo first"), wait_for_completion=False, **FAST
    )
    middle = BatchEksSubmitJobOperator(
        task_id="middle",
        job_name="chain_middle",
        job_queue=QUEUE,
        command=sh("exit 3"),
        depends_on=[first.output],
        wait_for_completion=False,
        **FAST,
    )
    last = BatchEksSubmitJobOperator(
        task_id="last", job_name="chain_last", job_queue=QUEUE, command=sh("echo last"), depends_on=middle.output,
        deferrable=False, **FAST,
    )
    BatchEksJobSensor(task_id="watch_middle", job_id=middle.output, poke_interval=0.2, mode="poke")

with DAG(dag_id="batch_eks_e2e_spot", **COMMON) as spot_dag:
    BatchEksSubmitJobOperator(
        task_id="spot",
        job_name="e2e_spot",
        job_queue=SPOT_QUEUE,
        command=sh("echo started; sleep 1; echo survived"),
        retry_strategy=RetryStrategy.spot_only(3),
        deferrable=False,
        **FAST,
    )

with DAG(dag_id="batch_eks_e2e_permanent", default_args={"retries": 2, "retry_delay": timedelta(0)}, **COMMON) as permanent_dag:
    for mode, deferrable in (("", False), ("_deferred", True)):
        BatchEksSubmitJobOperator(
            task_id=f"permanent{mode}",
            job_name=f"e2e_permanent{mode}",
            job_queue=QUEUE,
            command=sh("exit 42"),
            permanent_exit_codes=[42],
            deferrable=deferrable,
            **FAST,
        )

with DAG(dag_id="batch_eks_e2e_timeout", **COMMON) as timeout_dag:
    BatchEksSubmitJobOperator(
        task_id="timeout", job_name="e2e_timeout", job_queue=QUEUE, command=sh("sleep 30"), timeout=60, deferrable=False, **FAST
    )

with DAG(dag_id="batch_eks_e2e_array", **COMMON) as array_dag:
    BatchEksSubmitJobOperator(
        task_id="array",
        job_name="e2e_array",
        job_queue=QUEUE,
        command=sh("echo child $AWS_BATCH_JOB_ARRAY_INDEX"),
        array_size=3,
        deferrable=True,
        **FAST,
    )

with DAG(dag_id="batch_eks_e2e_fair_share", **COMMON) as fair_share_dag:
    BatchEksSubmitJobOperator(
        task_id="fair_share",
        job_name="e2e_fair_share",
        job_queue="e2e-fair-share",
        command=sh("echo fair"),
        share_identifier="teamA",
        scheduling_priority=5,
        deferrable=False,
        **FAST,
    )

with DAG(dag_id="batch_eks_e2e_fallback", **COMMON) as fallback_dag:
    BatchEksSubmitJobOperator(
        task_id="fallback",
        job_name="e2e_fallback",
        job_queue=[SPOT_QUEUE, QUEUE],
        command=sh("echo fell back"),
        deferrable=False,
        **FAST,
    )

with DAG(dag_id="batch_eks_e2e_reattach", default_args={"retries": 1, "retry_delay": timedelta(0)}, **COMMON) as reattach_dag:
    BatchEksSubmitJobOperator(
        task_id="long", job_name="e2e_reattach", job_queue=QUEUE, command=sh("sleep 4; echo done"), deferrable=False, **FAST
    )

with DAG(dag_id="batch_eks_e2e_scale", **COMMON) as scale_dag:
    up = BatchEksScaleComputeEnvironmentOperator(
        task_id="scale_up", compute_environment="doeks-CE1_OD", pre_warm_vcpus=4, poll_interval=0.2
    )
    run = BatchEksSubmitJobOperator(task_id="run", job_name="e2e_scaled", job_queue=QUEUE, command=sh("echo scaled"), **FAST)
    down = BatchEksScaleComputeEnvironmentOperator(
        task_id="scale_to_zero", compute_environment="doeks-CE1_OD", scale_to_zero=True, poll_interval=0.2
    )
    up >> run >> down

BAD_INPUT = {
    "millicores": {"cpu": "100m"},
    "memory_without_mi": {"memory": "512"},
    "unknown_queue": {"job_queue": "no-such-queue"},
    "bad_job_name": {"job_name": "bad name!"},
    "array_of_one": {"array_size": 1},
    "short_timeout": {"timeout": 30},
    "too_many_dependencies": {"depends_on": [f"job-{i}" for i in range(21)]},
    "priority_out_of_range": {"scheduling_priority": 10000},
    "unknown_definition": {"job_definition": "no-such-definition"},
    "negative_gpus": {"gpus": -1},
    "reserved_env": {"env": {"AWS_BATCH_JOB_ID": "x"}},
    "unsplittable_command": {"command": "echo 'unclosed"},
    "too_big_for_any_instance": {"cpu": "512"},
    "nan_gpus": {"gpus": "nan"},
    "infinite_array_size": {"array_size": "inf"},
    "nan_poll_interval": {"poll_interval": "nan"},
    "word_exit_code": {"permanent_exit_codes": "[2, 'two']"},
    "tags_over_the_limit_with_airflow_tags": {"tags": {f"team-{i}": "x" for i in range(46)}},
    "zero_poll_interval": {"poll_interval": 0},
}

with DAG(dag_id="batch_eks_e2e_bad_input", **COMMON) as bad_input_dag:
    for case, change in BAD_INPUT.items():
        BatchEksSubmitJobOperator(
            task_id=case,
            **{"job_name": f"bad_{case}", "job_queue": QUEUE, "command": sh("echo never"), "deferrable": False, **FAST, **change},
        )

with DAG(dag_id="batch_eks_e2e_sensors", **COMMON) as sensors_dag:
    from batch_eks_provider.sensors.batch import BatchEksComputeEnvironmentSensor, BatchEksJobQueueSensor

    queue_ready = BatchEksJobQueueSensor(task_id="queue_ready", job_queue=QUEUE, poke_interval=0.2, timeout=30)
    ce_ready = BatchEksComputeEnvironmentSensor(
        task_id="ce_ready", compute_environment="doeks-CE1_OD", state="ENABLED", poke_interval=0.2, timeout=30
    )
    started = BatchEksSubmitJobOperator(
        task_id="start", job_name="sensed", job_queue=QUEUE, command=sh("sleep 1; echo sensed"), wait_for_completion=False, **FAST
    )
    waited = BatchEksJobSensor(task_id="wait_deferred", job_id=started.output, deferrable=True, poll_interval=0.2)
    [queue_ready, ce_ready] >> started

with DAG(dag_id="batch_eks_e2e_mapped", **COMMON) as mapped_dag:
    BatchEksSubmitJobOperator.partial(
        task_id="mapped", job_name="e2e_mapped", job_queue=QUEUE, deferrable=True, **FAST
    ).expand(command=[sh("echo zero"), sh("echo one")])

with DAG(dag_id="batch_eks_e2e_retried", default_args={"retries": 1, "retry_delay": timedelta(0)}, **COMMON) as retried_dag:
    BatchEksSubmitJobOperator(
        task_id="flaky", job_name="e2e_flaky", job_queue=QUEUE, command=sh("exit 5"), deferrable=False, **FAST
    )

with DAG(dag_id="batch_eks_e2e_rerun", **COMMON) as rerun_dag:
    BatchEksSubmitJobOperator(
        task_id="rerun", job_name="e2e_rerun", job_queue=QUEUE, command=sh("echo again"), deferrable=False, **FAST
    )

with DAG(dag_id="batch_eks_e2e_spot_exhausted", default_args={"retries": 1, "retry_delay": timedelta(0)}, **COMMON) as spot_exhausted_dag:
    BatchEksSubmitJobOperator(
        task_id="spot_once",
        job_name="e2e_spot_once",
        job_queue=SPOT_QUEUE,
        command=sh("echo started; sleep 1; echo survived"),
        retry_strategy=RetryStrategy.spot_only(1),  # Batch does not retry the reclaim: Airflow must
        deferrable=False,
        **FAST,
    )
