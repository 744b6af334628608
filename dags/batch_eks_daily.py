"""
### A nightly report on AWS Batch on EKS

A scheduled DAG: every day at midnight (UTC) Airflow submits one Batch job that builds the report for
the run's day (its logical date) and waits for it. `catchup=False`: turning the DAG on runs only the
latest interval, not one run per day since `start_date`.

A run triggered without a logical date (Airflow 3's trigger form and REST API leave it empty) has no
`{{ ds }}`: the date comes from `dag_run.logical_date` when there is one, else from `dag_run.run_after`
(when the run was asked for), so the DAG runs the same way scheduled, triggered or under `dag.test()`.

The job's environment carries the date (`REPORT_DATE`), the Airflow run id and the attempt Batch sets
(`AWS_BATCH_JOB_ATTEMPT`), so the report job can name its output after the day it covers and a rerun of
an old day (Clear in the UI) rebuilds that day's report.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator

with DAG(
    dag_id="batch_eks_daily",
    description="A nightly report job on AWS Batch on EKS.",
    doc_md=__doc__,
    start_date=datetime(2024, 1, 1),
    schedule="@daily",
    catchup=False,
    tags=["batch-eks", "example"],
) as dag:
    BatchEksSubmitJobOperator(
        task_id="nightly_report",
        job_name="nightly_report_{{ (dag_run.logical_date or dag_run.run_after) | ds_nodash }}",
        job_queue="doeks-JQ1_OD",
        job_definition="doeks-hello-world",
        command=[
            "sh",
            "-c",
            'echo "report for $REPORT_DATE (attempt $AWS_BATCH_JOB_ATTEMPT)"; echo "rows=42"',
        ],
        env={
            "REPORT_DATE": "{{ (dag_run.logical_date or dag_run.run_after) | ds }}",
            "AIRFLOW_RUN_ID": "{{ run_id }}",
        },
        cpu="0.5",
        memory="512Mi",
        poll_interval=0.5,
    )
