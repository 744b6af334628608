"""
### Fan out: pre-warm, one array job, scale to zero

Processing many shards the Batch way: one **array job** of `shards` children (each child gets
`AWS_BATCH_JOB_ARRAY_INDEX`), not one Airflow task per shard.

1. `prewarm` raises the Spot compute environment's `minvCpus` (`pre_warm_vcpus`) so nodes are
   launched and Ready before the work arrives (no wait for capacity when the shards land).
2. `fan_out` submits the array job and **defers**: the task leaves its worker slot and the triggerer
   waits for it. All deferred Batch tasks in a triggerer share one poll loop that describes up to 100
   jobs per DescribeJobs call, so a thousand waiting tasks cost ten API calls per poll, not a thousand.
3. `scale_to_zero` sets the compute environment back to `minvCpus=0` (`scale_to_zero=True`) so idle
   nodes go away. Its
   `trigger_rule="all_done"` runs it whether the fan-out succeeded or failed: capacity is never left
   running after a failed run.
4. `summary` prints the per-shard outcome. It is the DAG's other leaf, so a failed fan-out still fails
   the DAG run even though `scale_to_zero` succeeded.

Params: `shards` (2..100) and `fail_shard` (index of a shard that exits 1, to see step 3 at work;
-1 for none).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from batch_eks_provider.operators.batch import (
    BatchEksScaleComputeEnvironmentOperator,
    BatchEksSubmitJobOperator,
)

COMPUTE_ENVIRONMENT = "doeks-CE1_SPOT"
QUEUE = "doeks-JQ1_SPOT"

with DAG(
    dag_id="batch_eks_fan_out",
    description="Pre-warm a compute environment, run an array job deferred, scale back to zero.",
    doc_md=__doc__,
    start_date=datetime(2024, 1, 1),
    schedule=None,
    catchup=False,
    tags=["batch-eks", "example"],
    params={
        "shards": Param(4, type="integer", minimum=2, maximum=100, title="Array size"),
        "fail_shard": Param(-1, type="integer", minimum=-1, title="Shard that exits 1 (-1: none)"),
    },
) as dag:
    prewarm = BatchEksScaleComputeEnvironmentOperator(
        task_id="prewarm",
        compute_environment=COMPUTE_ENVIRONMENT,
        pre_warm_vcpus=4,
        poll_interval=0.5,
    )

    fan_out = BatchEksSubmitJobOperator(
        task_id="fan_out",
        job_name="fan_out_shards",
        job_queue=QUEUE,
        job_definition="doeks-hello-world",
        command=[
            "sh",
            "-c",
            'echo "shard $AWS_BATCH_JOB_ARRAY_INDEX of {{ params.shards }}"; '
            'test "$AWS_BATCH_JOB_ARRAY_INDEX" != "{{ params.fail_shard }}"',
        ],
        cpu="0.5",
        memory="256Mi",
        array_size="{{ params.shards }}",
        deferrable=True,
        poll_interval=0.5,
    )

    scale_to_zero = BatchEksScaleComputeEnvironmentOperator(
        task_id="scale_to_zero",
        compute_environment=COMPUTE_ENVIRONMENT,
        scale_to_zero=True,
        poll_interval=0.5,
        trigger_rule="all_done",
    )

    @task
    def summary(job_id: str) -> str:
        """Log which array job ran; the job's children are listed under its id in the Batch console."""
        print(f"array job {job_id} succeeded on every shard")
        return job_id

    prewarm >> fan_out >> scale_to_zero
    summary(fan_out.output)
