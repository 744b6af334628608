"""
### Hello World on AWS Batch on EKS

The data-on-eks blueprint's walkthrough as a DAG: run the `doeks-hello-world` job definition
(it echoes "Hello World!") once on the on-demand queue `doeks-JQ1_OD` and once on the Spot queue
`doeks-JQ1_SPOT`, each in its own pod on a Batch-managed node.

Run it against the local engine (`make demo` or `make airflow`) or against AWS with an `aws_default`
connection whose account has the blueprint deployed. The task's return value (in XCom) is the Batch job id.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator

with DAG(
    dag_id="batch_eks_hello_world",
    description="Run the data-on-eks hello-world job on the on-demand and Spot queues.",
    doc_md=__doc__,
    start_date=datetime(2024, 1, 1),
    schedule=None,
    catchup=False,
    tags=["batch-eks", "example"],
) as dag:
    for queue_kind, queue in (("on_demand", "doeks-JQ1_OD"), ("spot", "doeks-JQ1_SPOT")):
        BatchEksSubmitJobOperator(
            task_id=f"hello_{queue_kind}",
            job_name=f"doeks_hello_{queue_kind}",
            job_queue=queue,
            job_definition="doeks-hello-world",
            poll_interval=0.5,
        )
