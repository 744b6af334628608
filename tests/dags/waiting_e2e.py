"""Test-only DAGs for "why is my job waiting", ``on_stuck``, Spot fallback and array reports
(tests/provider/e2e/test_why_waiting.py), each in a sync and a deferrable form.

``DAGS[(scenario, mode)]`` is the DAG; mode is ``"sync"`` or ``"deferred"``. Polls are 0.2 s and lines are
explained after 1 s, so each run takes seconds; the test drives the engine (fills the queue, disables a
compute environment, injects faults) while the DAG waits.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator
from batch_eks_provider.retry_strategy import RetryStrategy

OD_QUEUE = "doeks-JQ1_OD"
SPOT_QUEUE = "doeks-JQ1_SPOT"
DEFINITION = "doeks-hello-world"
MODES = ("sync", "deferred")
COMMON = {"start_date": datetime(2024, 1, 1), "schedule": None, "catchup": False, "tags": ["batch-eks-e2e"]}
FAST = {"poll_interval": 0.2, "job_definition": DEFINITION, "args": [], "memory": "64Mi"}
FAILING_INDEXES = (7, 23, 41)
SPOT_ONLY_WORK = f'if [ "$AWS_BATCH_JQ_NAME" = {SPOT_QUEUE} ]; then sleep 120; fi; echo "done on $AWS_BATCH_JQ_NAME"'


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def _tasks(scenario: str, deferrable: bool) -> None:
    common = {**FAST, "deferrable": deferrable}
    if scenario == "behind_full":
        BatchEksSubmitJobOperator(
            task_id="waits", job_name="waits_behind", job_queue=OD_QUEUE, command=sh("echo placed"), cpu="1", explain_after=1, **common
        )
    elif scenario == "disabled_ce":
        BatchEksSubmitJobOperator(
            task_id="waits", job_name="waits_disabled", job_queue=OD_QUEUE, command=sh("echo placed"), cpu="1", explain_after=1, **common
        )
    elif scenario == "never_fits":
        BatchEksSubmitJobOperator(
            task_id="waits", job_name="never_fits", job_queue=OD_QUEUE, command=sh("echo never"), cpu="2",
            explain_after=None, on_stuck="fail", retries=2, **common,
        )
    elif scenario == "too_big":
        BatchEksSubmitJobOperator(
            task_id="waits", job_name="too_big", job_queue=OD_QUEUE, command=sh("echo never"), cpu="1",
            **{**common, "memory": "2000000Mi"}, on_stuck="fail",
        )
    elif scenario == "capacity_next_queue":
        BatchEksSubmitJobOperator(
            task_id="waits", job_name="capacity", job_queue=[SPOT_QUEUE, OD_QUEUE], command=sh('echo "ran on $AWS_BATCH_JQ_NAME"'),
            cpu="1", explain_after=0.5, on_stuck="next_queue", stuck_after=2, **common,
        )
    elif scenario == "spot_fallback":
        BatchEksSubmitJobOperator(
            task_id="waits", job_name="reclaimed", job_queue=[SPOT_QUEUE, OD_QUEUE], command=sh(SPOT_ONLY_WORK), cpu="1",
            max_spot_reclaims=1, retry_strategy=RetryStrategy.spot_only(3), **common,
        )
    elif scenario == "array":
        failing = "|".join(str(i) for i in FAILING_INDEXES)
        script = f'echo "child $AWS_BATCH_JOB_ARRAY_INDEX"; case "$AWS_BATCH_JOB_ARRAY_INDEX" in {failing}) exit 3;; esac'
        for task_id, allowed in (("strict", None), ("tolerant", len(FAILING_INDEXES))):
            BatchEksSubmitJobOperator(
                task_id=task_id, job_name=f"array_{task_id}", job_queue=OD_QUEUE, command=sh(script), cpu="0.25",
                array_size=50, allowed_failures=allowed, **common,
            )
    else:
        raise ValueError(scenario)


SCENARIOS = ("behind_full", "disabled_ce", "never_fits", "too_big", "capacity_next_queue", "spot_fallback", "array")
DAGS: dict[tuple[str, str], DAG] = {}
for _scenario in SCENARIOS:
    for _mode in MODES:
        with DAG(dag_id=f"batch_eks_waiting_{_scenario}_{_mode}", **COMMON) as _dag:
            _tasks(_scenario, deferrable=_mode == "deferred")
        DAGS[(_scenario, _mode)] = _dag
