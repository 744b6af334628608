"""
### A nightly report on AWS Batch on EKS

A scheduled DAG: every day at midnight (UTC) Airflow submits one Batch job that builds the report for
the day just ended (`{{ ds }}`, the run's logical date) and waits for it. `catchup=False`: turning the
DAG on runs only the latest interval, not one run per day since `start_date`.

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
        job_name="nightly_report_{{ ds_nodash }}",
        job_queue="doeks-JQ1_OD",
        job_definition="doeks-hello-world",
        command=[
            "sh",
            "-c",
            'echo "report for $REPORT_DATE (attempt $AWS_BATCH_JOB_ATTEMPT)"; echo "rows=42"',
        ],
        env={"REPORT_DATE": "{{ ds }}", "AIRFLOW_RUN_ID": "{{ run_id }}"},
        cpu="0.5",
        memory="512Mi",
        poll_interval=0.5,
    )
