"""DAGs for the deployment tests (tests/deployment/): run by a real scheduler, workers and triggerer.

Jobs that must stay running while the test acts (kills a worker, restarts the triggerer, clears a task) wait on a
gate file the test creates (``params.gate``): the job's shell loop ends when the file exists, so no test sleeps
for a fixed time. Polls are 0.5 s; nothing here talks to AWS or the engine at parse time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, Param, task

from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator

QUEUE = "doeks-JQ1_OD"
DEFINITION = "doeks-hello-world"
POLL = 0.5
SMALL = {"job_queue": QUEUE, "job_definition": DEFINITION, "cpu": "0.25", "memory": "64Mi", "poll_interval": POLL}
COMMON = {"start_date": datetime(2024, 1, 1), "schedule": None, "catchup": False, "tags": ["batch-eks-deployment"]}
# one check a second: 200 gated pods on 2 cores must not spend them forking sleep
GATED = 'echo "waiting for $GATE"; while [ ! -e "$GATE" ]; do sleep 1; done; echo released'
GATE_PARAM = Param("/nonexistent/gate", type="string", description="The job ends once this file exists.")

with DAG(dag_id="deployment_deferred_gate", params={"count": Param(2, type="integer"), "gate": GATE_PARAM}, **COMMON):

    @task
    def job_names(**context) -> list[str]:
        return [f"gated_{i}" for i in range(int(context["params"]["count"]))]

    BatchEksSubmitJobOperator.partial(
        task_id="wait", command=["sh", "-c", GATED], env={"GATE": "{{ params.gate }}"}, deferrable=True, **SMALL
    ).expand(job_name=job_names())

with DAG(dag_id="deployment_sync_kill", params={"gate": GATE_PARAM}, **COMMON):
    BatchEksSubmitJobOperator(
        task_id="sync_wait", job_name="sync_kill", command=["sh", "-c", GATED], env={"GATE": "{{ params.gate }}"},
        deferrable=False, retries=1, retry_delay=timedelta(seconds=1), **SMALL,
    )

with DAG(dag_id="deployment_clear_and_fail", params={"gate": GATE_PARAM}, **COMMON):
    for task_id in ("to_clear", "to_fail"):
        BatchEksSubmitJobOperator(
            task_id=task_id, job_name=task_id, command=["sh", "-c", GATED], env={"GATE": "{{ params.gate }}"},
            deferrable=True, **SMALL,
        )

with DAG(dag_id="deployment_max_wait", **COMMON):
    BatchEksSubmitJobOperator(
        task_id="too_slow", job_name="too_slow", command=["sh", "-c", "echo started; sleep 120"],
        deferrable=True, max_wait=4, **SMALL,
    )

with DAG(dag_id="deployment_sync_log", **COMMON):
    BatchEksSubmitJobOperator(
        task_id="sync", job_name="sync_log", deferrable=False,
        command=["sh", "-c", "echo pod-line-one; echo pod-line-two; echo pod-line-three"], **SMALL,
    )

_today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
with DAG(
    dag_id="deployment_catchup", start_date=_today - timedelta(days=2), schedule="@daily", catchup=True,
    max_active_runs=4, tags=["batch-eks-deployment"],
):
    BatchEksSubmitJobOperator(
        task_id="daily", job_name="daily_{{ ds_nodash }}", command=["sh", "-c", "echo report for {{ ds }}"],
        deferrable=True, **SMALL,
    )
