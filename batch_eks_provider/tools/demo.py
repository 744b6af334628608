"""`make demo`: start the local engine with the data-on-eks blueprint, run the example pipeline DAG with
Airflow (``airflow dags test`` on SQLite), show the Batch jobs' progress while it runs, print a summary of
every Batch job and attempt, stop the engine.

With the pipeline DAG, the demo also plays a Spot interruption: when the ``train`` job first runs on its Spot
node, the demo reclaims that node (as EC2 would), Batch's retry strategy runs the job again, and the summary
shows two attempts and one Spot reclaim. ``DEMO_SPOT_RECLAIM=0`` turns that off.

``DEMO_RUNTIME=docker`` (or ``auto``) runs the pods in the Docker daemon instead of as local processes
(``batch-eks local serve --runtime``); the job image is imported locally when the daemon has none
(:mod:`.demo_image`).

Usage: ``python -m batch_eks_provider.tools.demo [DAG_ID]`` (default ``$DEMO_DAG`` or the pipeline).
Exits non-zero when the DAG run failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from ..local import LocalEngine
from .example_dags import example_dags_folder

__all__ = ["JobWatcher", "main", "summary_rows"]

ROOT = Path.cwd()  # state and logs go under the directory it runs in (the checkout, for make)
DEMO_DIR = ROOT / ".demo"
DEFAULT_DAG = "batch_eks_pipeline"
RECLAIM_JOB_NAME = "pipeline_train"
STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
TABLE_HEADER = ["task", "job", "job id", "queue", "status", "attempts", "pods", "nodes", "exit codes", "spot reclaims"]


def _batch_client(engine_url: str) -> Any:
    return boto3.client(
        "batch", endpoint_url=engine_url, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )


def all_jobs(batch: Any) -> list[dict[str, Any]]:
    """Every job on every queue, as DescribeJobs shows it (array children included), oldest first."""
    ids: list[str] = []
    for queue in batch.describe_job_queues()["jobQueues"]:
        for status in STATUSES:
            for page in batch.get_paginator("list_jobs").paginate(jobQueue=queue["jobQueueName"], jobStatus=status):
                ids += [summary["jobId"] for summary in page["jobSummaryList"]]
    jobs: list[dict[str, Any]] = []
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), 100):
        jobs += batch.describe_jobs(jobs=unique[start : start + 100])["jobs"]
    return sorted(jobs, key=lambda job: job["createdAt"])


def _is_spot_reclaim(attempt: dict[str, Any]) -> bool:
    return (attempt.get("statusReason") or "").startswith("Host EC2")


def summary_rows(jobs: list[dict[str, Any]]) -> list[list[str]]:
    """One row per job: the Airflow task (tag ``airflow:task_id``, else the job name), ids, attempts, pods,
    nodes, exit codes and Spot reclaims."""
    rows = []
    for job in jobs:
        attempts = job.get("eksAttempts") or []
        tags = job.get("tags") or {}
        exit_codes = [str(c["exitCode"]) for a in attempts for c in a.get("containers", []) if "exitCode" in c]
        rows.append(
            [
                tags.get("airflow:task_id", "-"),
                job["jobName"],
                job["jobId"][:8] + (job["jobId"][36:] if len(job["jobId"]) > 36 else ""),
                job["jobQueue"].rsplit("/", 1)[-1],
                job["status"],
                str(len(attempts)),
                " ".join(a.get("podName", "-")[:18] for a in attempts) or "-",
                " ".join(a.get("nodeName", "-").split(".")[0] for a in attempts) or "-",
                ",".join(exit_codes) or "-",
                str(sum(1 for a in attempts if _is_spot_reclaim(a))),
            ]
        )
    return rows


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [TABLE_HEADER, *rows]) for i in range(len(TABLE_HEADER))]
    for row in [TABLE_HEADER, ["-" * w for w in widths], *rows]:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)), flush=True)


@dataclass
class JobWatcher:
    """Prints each Batch job's status changes while the DAG runs, and plays the demo's Spot reclaim."""

    engine_url: str
    reclaim_job_name: str | None = None
    interval: float = 0.3
    started: float = field(default_factory=time.monotonic)
    _seen: dict[str, tuple[str, int]] = field(default_factory=dict)
    _reclaimed: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="demo-job-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.poll()  # the final states

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception as e:  # the watcher only reports; the DAG run decides the outcome
                self._say(f"(progress unavailable: {e})")

    def _say(self, text: str) -> None:
        print(f"    [{time.monotonic() - self.started:5.1f}s] {text}", flush=True)

    def poll(self) -> None:
        for job in all_jobs(_batch_client(self.engine_url)):
            attempts = job.get("eksAttempts") or []
            key = (job["status"], len(attempts))
            if self._seen.get(job["jobId"]) == key:
                continue
            before, attempts_before = self._seen.get(job["jobId"], ("new", 0))
            self._seen[job["jobId"]] = key
            node = job.get("eksProperties", {}).get("podProperties", {}).get("nodeName")
            detail = f" on {node.split('.')[0]}" if node and job["status"] in ("STARTING", "RUNNING") else ""
            if len(attempts) > attempts_before:
                last = attempts[-1]
                reason = last.get("statusReason") or ", ".join(
                    f"exit {c.get('exitCode')}" for c in last.get("containers", []) if "exitCode" in c
                )
                ended = f"attempt {len(attempts)} ended: {reason}" if reason else f"attempt {len(attempts)} ended"
                detail = f" ({ended})" + (f", retried{detail}" if job["status"] not in ("SUCCEEDED", "FAILED") else "")
            self._say(f"{job['jobName']:<28} {job['jobId'][:8]}  {before} -> {job['status']}{detail}")
            if self._should_reclaim(job, attempts):
                self._reclaim(job)

    def _should_reclaim(self, job: dict[str, Any], attempts: list[dict[str, Any]]) -> bool:
        return (
            not self._reclaimed
            and job["jobName"] == self.reclaim_job_name
            and job["status"] == "RUNNING"
            and not attempts
        )

    def _reclaim(self, job: dict[str, Any]) -> None:
        self._reclaimed = True
        request = urllib.request.Request(
            f"{self.engine_url}/_local/reclaim",
            data=json.dumps({"jobId": job["jobId"]}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                node = json.loads(response.read())["nodeName"]
            self._say(f"demo: Spot interruption! node {node.split('.')[0]} under {job['jobName']} is reclaimed")
        except Exception as e:  # the job may have finished in between
            self._say(f"demo: no Spot reclaim ({e})")


def _airflow_env(engine_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(DEMO_DIR / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(example_dags_folder()),
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


def _run(cmd: list[str], env: dict[str, str], label: str, log_name: str) -> int:
    """Run an Airflow command with its output in .demo/<log_name>.log; echo only task outcomes and errors."""
    print(f"==> {label}", flush=True)
    started = time.monotonic()
    log_path = DEMO_DIR / f"{log_name}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if "Marking task as" in line or "[error" in line or "Traceback" in line:
                print("    airflow: " + line.strip()[:220], flush=True)
        code = proc.wait()
    print(f"    ({time.monotonic() - started:.1f}s, exit {code}; full log: {log_path.relative_to(ROOT)})", flush=True)
    return code


def _choose_runtime() -> str | None:
    """The engine's runtime from ``DEMO_RUNTIME`` (process, docker or auto), with the docker runtime's job
    image made ready; None when the docker runtime was asked for and cannot run (printed)."""
    from ..local.engine import choose_runtime

    try:
        runtime = choose_runtime(os.environ.get("DEMO_RUNTIME") or "process")
    except ValueError as e:
        print(f"error: DEMO_RUNTIME: {e}", file=sys.stderr)
        return None
    if runtime == "docker":
        from ..local.runtime.docker_daemon import DockerUnavailable
        from .demo_image import ensure_demo_image

        try:
            made = ensure_demo_image()
        except DockerUnavailable as e:
            print(f"error: DEMO_RUNTIME=docker: {e}", file=sys.stderr)
            return None
        if made:
            print(f"    {made}", flush=True)
    return runtime


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    dag_id = args[0] if args else os.environ.get("DEMO_DAG", DEFAULT_DAG)
    reclaim = dag_id == "batch_eks_pipeline" and os.environ.get("DEMO_SPOT_RECLAIM", "1") != "0"
    DEMO_DIR.mkdir(exist_ok=True)
    runtime = _choose_runtime()
    if runtime is None:
        return 2
    os.environ["BATCH_EKS_RUNTIME"] = runtime  # the engine's --runtime (LocalEngine reads it)
    print(f"==> starting the local engine (AWS Batch on EKS, data-on-eks blueprint, {runtime} runtime)", flush=True)
    with LocalEngine(blueprint="data-on-eks", state_dir=DEMO_DIR / f"engine-{int(time.time())}") as engine:
        print(f"    engine at {engine.url} (open it in a browser for its job page)", flush=True)
        env = _airflow_env(engine.url)
        if _run([sys.executable, "-m", "airflow", "db", "migrate"], env, "preparing Airflow (db migrate)", "airflow-db-migrate") != 0:
            print("error: airflow db migrate failed; see the log named above", file=sys.stderr)
            return 1
        watcher = JobWatcher(engine.url, reclaim_job_name=RECLAIM_JOB_NAME if reclaim else None)
        watcher.start()
        try:
            code = _run(
                [sys.executable, "-m", "airflow", "dags", "test", dag_id], env, f"airflow dags test {dag_id}", "dags-test"
            )
        finally:
            watcher.stop()
        print("\n==> what ran on AWS Batch (local engine)", flush=True)
        _print_table(summary_rows(all_jobs(_batch_client(engine.url))))
    print("==> local engine stopped", flush=True)
    ok = code == 0
    print(f"\n==> DAG {dag_id}: {'SUCCESS' if ok else 'FAILED'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
