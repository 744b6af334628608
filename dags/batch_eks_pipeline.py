"""
### A training pipeline as a Batch-native dependency chain

`prepare -> train -> evaluate`, the shape of most ML and data pipelines, run on AWS Batch on EKS.

**How it runs.** All three jobs are submitted at once: `prepare` and `train` use
`wait_for_completion=False`, so their Airflow tasks finish as soon as SubmitJob answers and hold no
worker slot while Batch works. Each job names its upstream job in `depends_on` (the upstream task's
XCom, i.e. its Batch job id), so **AWS Batch** holds it in `PENDING` until the upstream job
`SUCCEEDED`, and fails it without running (`Dependent Job failed`) if the upstream job failed.
`evaluate` is the waiter: it defers (the triggerer watches the job, no worker slot is held while the
chain runs) and, when the job ends, copies the pod's log into the task log.

**Spot.** `train` runs on the Spot queue with `RetryStrategy.spot_only(attempts=3)`: Batch retries it
when the Spot node is reclaimed (status reason `Host EC2 (instance i-...) terminated.`) and exits on
any other failure, so a bug is not retried three times.

**Exit codes.** `evaluate` exits 2 when the model is below `min_accuracy`. Exit code 2 is listed in
`permanent_exit_codes`: the task fails at once with no Airflow retry (a bad model is not transient),
while other failures get the task's one Airflow retry.

**Params.** Trigger it from the UI ("Trigger DAG" form) to change the training command, its cpu and
memory, or the accuracy bar. Commands run as local processes under the local engine, so keep them to
what the machine has (`sh`, `python3`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator
from batch_eks_provider.retry_strategy import RetryStrategy

ON_DEMAND_QUEUE = "doeks-JQ1_OD"
SPOT_QUEUE = "doeks-JQ1_SPOT"
JOB_DEFINITION = "doeks-hello-world"

with DAG(
    dag_id="batch_eks_pipeline",
    description="prepare -> train -> evaluate as a Batch depends_on chain, with Spot retries and exit-code handling.",
    doc_md=__doc__,
    start_date=datetime(2024, 1, 1),
    schedule=None,
    catchup=False,
    tags=["batch-eks", "example"],
    default_args={"retries": 1, "retry_delay": timedelta(seconds=5)},
    params={
        "train_command": Param(
            "for epoch in 1 2 3; do echo \"epoch $epoch/3 loss=0.$((4 - epoch))\"; sleep 0.3; done; echo model saved",
            type="string",
            title="Training command",
            description="Shell command the train job runs (sh -c).",
        ),
        "train_cpu": Param("1", type="string", enum=["0.5", "1", "2", "4"], title="Training vCPUs"),
        "train_memory": Param("1024Mi", type="string", pattern="^[0-9]+Mi$", title="Training memory (MiB, Mi suffix)"),
        "min_accuracy": Param(0.9, type="number", minimum=0, maximum=1, title="Accuracy the model must reach"),
    },
) as dag:
    prepare = BatchEksSubmitJobOperator(
        task_id="prepare",
        job_name="pipeline_prepare",
        job_queue=ON_DEMAND_QUEUE,
        job_definition=JOB_DEFINITION,
        command=["python3", "-c", "print('prepared 3 shards for run {{ run_id }}')"],
        cpu="0.5",
        memory="512Mi",
        wait_for_completion=False,
    )

    train = BatchEksSubmitJobOperator(
        task_id="train",
        job_name="pipeline_train",
        job_queue=SPOT_QUEUE,
        job_definition=JOB_DEFINITION,
        command=["sh", "-c", "{{ params.train_command }}"],
        cpu="{{ params.train_cpu }}",
        memory="{{ params.train_memory }}",
        depends_on=[prepare.output],
        retry_strategy=RetryStrategy.spot_only(attempts=3),
        wait_for_completion=False,
    )

    evaluate = BatchEksSubmitJobOperator(
        task_id="evaluate",
        job_name="pipeline_evaluate",
        job_queue=ON_DEMAND_QUEUE,
        job_definition=JOB_DEFINITION,
        command=[
            "python3",
            "-c",
            "import sys; accuracy = 0.93; print(f'accuracy={accuracy}'); "
            "sys.exit(0 if accuracy >= {{ params.min_accuracy }} else 2)",
        ],
        cpu="0.5",
        memory="512Mi",
        depends_on=[train.output],
        permanent_exit_codes=[2],
        deferrable=True,
        poll_interval=0.5,
    )
