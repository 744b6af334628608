"""
### Hello World on AWS Batch on EKS

The data-on-eks blueprint's walkthrough as a DAG: run the `doeks-hello-world` job definition once on
the on-demand queue `doeks-JQ1_OD` and once on the Spot queue `doeks-JQ1_SPOT`, each in its own pod
on a Batch-managed node.

The job definition's container runs `/bin/sh -c "echo 'Hello World!'"`; this DAG overrides the command
to echo the `greeting` Param instead (passed as the environment variable `GREETING`, never pasted
into the shell line), so the "Trigger DAG" form in the UI can change what the pods print.

Run it against the local engine (`make airflow`) or against AWS with an `aws_default` connection
whose account has the blueprint deployed. Each task's return value (in XCom) is its Batch job id.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator

with DAG(
    dag_id="batch_eks_hello_world",
    description="Run the data-on-eks hello-world job on the on-demand and Spot queues.",
    doc_md=__doc__,
    start_date=datetime(2024, 1, 1),
    schedule=None,
    catchup=False,
    tags=["batch-eks", "example"],
    params={"greeting": Param("Hello World!", type="string", minLength=1, title="What the pods print")},
) as dag:
    for queue_kind, queue in (("on_demand", "doeks-JQ1_OD"), ("spot", "doeks-JQ1_SPOT")):
        BatchEksSubmitJobOperator(
            task_id=f"hello_{queue_kind}",
            job_name=f"doeks_hello_{queue_kind}",
            job_queue=queue,
            job_definition="doeks-hello-world",
            command=["/bin/sh", "-c", 'echo "$GREETING"'],
            env={"GREETING": "{{ params.greeting }}"},
            poll_interval=0.5,
        )
