"""`make demo`: start the local engine with the data-on-eks blueprint, run the example pipeline DAG with
Airflow (``airflow dags test`` on SQLite), print a summary of every Batch job and attempt, stop the engine.

Exits non-zero when the DAG run failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3

from .local import LocalEngine

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / ".demo"
DEFAULT_DAG = "batch_eks_hello_world"


def _airflow_env(engine_url: str) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        {
            "AIRFLOW_HOME": str(DEMO_DIR / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {
                    "conn_type": "aws",
                    "login": "local",
                    "password": "local",
                    "extra": {"endpoint_url": engine_url, "region_name": "us-east-1"},
                }
            ),
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    return env


def _run(cmd: list[str], env: dict[str, str], label: str) -> int:
    print(f"==> {label}", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    log_path = DEMO_DIR / f"{label.split()[0]}.log"
    with open(log_path, "w") as log:
        for line in proc.stdout:
            log.write(line)
            if "AWS Batch job" in line or "Submitted" in line or "[DAG TEST]" in line or "ERROR" in line:
                print("    " + line.rstrip()[-200:], flush=True)
    code = proc.wait()
    print(f"    ({time.monotonic() - started:.1f}s, full log: {log_path.relative_to(ROOT)})", flush=True)
    return code


def _summary(engine_url: str) -> list[list[str]]:
    batch = boto3.client("batch", endpoint_url=engine_url, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
    rows = []
    for queue in batch.describe_job_queues()["jobQueues"]:
        ids = []
        for status in ("SUCCEEDED", "FAILED", "RUNNING", "RUNNABLE", "PENDING"):
            ids += [j["jobId"] for j in batch.list_jobs(jobQueue=queue["jobQueueName"], jobStatus=status)["jobSummaryList"]]
        for start in range(0, len(ids), 100):
            for job in batch.describe_jobs(jobs=ids[start : start + 100])["jobs"]:
                attempts = job.get("eksAttempts") or []
                task = job.get("tags", {}).get("airflow:task_id", job["jobName"])
                reclaims = sum(1 for a in attempts if (a.get("statusReason") or "").startswith("Host EC2"))
                last = attempts[-1] if attempts else {}
                codes = ",".join(str(c.get("exitCode", "-")) for a in attempts for c in a.get("containers", []))
                rows.append([
                    task, job["jobId"][:8], queue["jobQueueName"], job["status"], str(len(attempts)),
                    last.get("podName", "-")[:22], last.get("nodeName", "-"), codes or "-", str(reclaims),
                ])
    return rows


def _print_table(rows: list[list[str]]) -> None:
    header = ["task", "job id", "queue", "status", "attempts", "last pod", "last node", "exit codes", "spot reclaims"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def main(argv: list[str] | None = None) -> int:
    dag_id = (argv or sys.argv[1:] or [os.environ.get("DEMO_DAG", DEFAULT_DAG)])[0]
    DEMO_DIR.mkdir(exist_ok=True)
    print("==> starting the local engine (AWS Batch on EKS, data-on-eks blueprint)", flush=True)
    with LocalEngine(blueprint="data-on-eks", state_dir=DEMO_DIR / f"engine-{int(time.time())}") as engine:
        print(f"    engine at {engine.url}", flush=True)
        env = _airflow_env(engine.url)
        if _run([sys.executable, "-m", "airflow", "db", "migrate"], env, "airflow db migrate") != 0:
            print("airflow db migrate failed; see the log above", file=sys.stderr)
            return 1
        code = _run([sys.executable, "-m", "airflow", "dags", "test", dag_id], env, f"dags test {dag_id}")
        print("\n==> what ran on AWS Batch (local engine)")
        _print_table(_summary(engine.url))
    ok = code == 0
    print(f"\n==> DAG {dag_id}: {'SUCCESS' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
