"""Reliability suite (tests/reliability/test_faults.py): many mapped submit tasks, every third job fails.

``reliability_faults`` has 8 tasks (``make test``), ``reliability_faults_soak`` 50 (``make soak``). Job
``faults-<i>`` runs ``exit 3`` when ``i % 3 == 0`` (its task must fail) and ``exit 0`` otherwise.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator

FAILING_EXIT_CODE = 3


def job_name(index: int) -> str:
    return f"faults-{index}"


def expected_job_status(index: int) -> str:
    return "FAILED" if index % 3 == 0 else "SUCCEEDED"


for dag_id, tasks in (("reliability_faults", 8), ("reliability_faults_soak", 50)):
    with DAG(dag_id=dag_id, start_date=datetime(2024, 1, 1), schedule=None, catchup=False, tags=["reliability"]) as dag:
        BatchEksSubmitJobOperator.partial(
            task_id="job",
            job_queue="doeks-JQ1_OD",
            job_definition="doeks-hello-world",
            poll_interval=0.2,
            retries=0,
        ).expand_kwargs(
            [
                {"job_name": job_name(i), "command": ["sh", "-c", f"exit {FAILING_EXIT_CODE if expected_job_status(i) == 'FAILED' else 0}"]}
                for i in range(tasks)
            ]
        )
    globals()[dag_id] = dag
