"""A stand-in Airflow worker for the SIGKILL scenario: run one submit task's ``execute()`` and print the result.

``python -m tests.reliability.worker --job-name NAME --run-id RUN --try-number N [--wait-for-go]`` runs ``BatchEksSubmitJobOperator`` for
the task instance ``reliability_worker_kill / submit / <run id>`` (the same identity on every try, as
Airflow gives a retried task) against ``aws_default``, and prints ``{"job_id": ...}`` or ``{"error": ...}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

__all__ = ["main", "build_task"]


@dataclass
class TaskInstance:
    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    map_index: int = -1
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, *_: Any, **__: Any) -> Any:
        return None


def build_task(job_name: str, run_id: str, try_number: int, seconds: int = 4) -> tuple[Any, dict[str, Any]]:
    """The operator of the task and the context of one of its tries."""
    from airflow.sdk.bases.operator import ExecutorSafeguard

    from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator

    ExecutorSafeguard.test_mode = True  # this process plays the task runner
    ti = TaskInstance(dag_id="reliability_worker_kill", task_id="submit", run_id=run_id, try_number=try_number)
    operator = BatchEksSubmitJobOperator(
        task_id="submit",
        job_name=job_name,
        job_queue="doeks-JQ1_OD",
        job_definition="doeks-hello-world",
        command=["sleep", str(seconds)],
        args=[],
        poll_interval=0.2,
    )
    return operator, {"ti": ti, "task_instance": ti, "run_id": run_id, "try_number": try_number}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--job-name", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--try-number", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--wait-for-go", action="store_true", help="after the imports, wait for a line on stdin")
    args = parser.parse_args(argv)

    operator, context = build_task(args.job_name, args.run_id, args.try_number, args.seconds)
    print(json.dumps({"ready": True}), flush=True)
    if args.wait_for_go:
        sys.stdin.readline()  # the test says when this try starts (imports are slow on a loaded machine)
    try:
        job_id = operator.execute(context)
    except Exception as error:  # noqa: BLE001 - reported to the test
        print(json.dumps({"error": f"{type(error).__name__}: {error}"}), flush=True)
        return 1
    print(json.dumps({"job_id": job_id}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
