"""Test-only DAG: the Amazon provider's own ``BatchOperator`` against the local engine (issue 2's
"the Amazon provider's BatchOperator running in a real DAG"). The engine must be faithful enough that the
peer's unchanged code submits, waits and reads the outcome."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.amazon.aws.hooks.batch_client import BatchClientHook
from airflow.providers.amazon.aws.operators.batch import BatchOperator
from airflow.sdk import DAG

# The peer sleeps a random 1-10 s between its status polls; keep the test quick.
BatchClientHook.DEFAULT_DELAY_MIN = 0
BatchClientHook.DEFAULT_DELAY_MAX = 1

with DAG(dag_id="amazon_batch_operator", start_date=datetime(2024, 1, 1), schedule=None, catchup=False) as dag:
    BatchOperator(
        task_id="peer_submit",
        job_name="peer_hello",
        job_queue="doeks-JQ1_OD",
        job_definition="doeks-hello-world",
        eks_properties_override={
            "podProperties": {"containers": [{"command": ["sh", "-c"], "args": ["echo '{{ params.message }}'; exit {{ params.exit_code }}"]}]}
        },
        params={"message": "hello from BatchOperator", "exit_code": 0},
        poll_interval=1,
        aws_conn_id="aws_default",
    )
