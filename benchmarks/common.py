"""What every benchmark shares: the engine it runs on, its request counters, the machine, the process.

The engine runs in the benchmark's own process (a :class:`~batch_eks_provider.local.LocalEngine` thread);
whatever is measured (a triggerer, an operator) runs in a child process or is counted through the engine's
``/metrics``, so the engine's own CPU and memory never mix into a side's figures.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

__all__ = [
    "BENCH_QUEUE",
    "BENCH_SLEEP_DEFINITION",
    "ROOT",
    "aws_connection_json",
    "batch_client",
    "bench_engine",
    "child_env",
    "describe_all",
    "machine_info",
    "percentile",
    "request_counts",
    "rss_bytes",
    "submit_jobs",
    "wait_until",
]

ROOT = Path(__file__).resolve().parent.parent
BENCH_CE = "bench-ce"
BENCH_QUEUE = "bench-q"
BENCH_SLEEP_DEFINITION = "bench-sleep"


def aws_connection_json(engine_url: str) -> str:
    """An Airflow AWS connection (JSON form) that sends every AWS client to the engine."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": engine_url, "region_name": "us-east-1"},
        }
    )


def child_env(engine_url: str, airflow_home: str | Path) -> dict[str, str]:
    """The environment of a measured child process: its own Airflow home, ``aws_default`` on the engine."""
    env = os.environ.copy()
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_CONN_AWS_DEFAULT": aws_connection_json(engine_url),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
        }
    )
    env.pop("AWS_PROFILE", None)
    return env


def batch_client(url: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "batch",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 10, "mode": "standard"}),
    )


@contextmanager
def bench_engine(max_vcpus: int = 1024) -> Iterator[Any]:
    """An engine with the data-on-eks blueprint plus a large queue ``bench-q`` and a tiny ``sleep 600`` job.

    The bench compute environment has ``max_vcpus`` vCPUs so that 1,000 jobs of 0.25 vCPU all run at once.
    The runtime's memory watch (one ``/proc`` read per pod every 0.25 s by default) is slowed to every 30 s:
    with 1,000 pods it would otherwise keep the engine's loop busy and slow both sides' requests alike.
    """
    from batch_eks_provider.local import LocalEngine

    with tempfile.TemporaryDirectory(prefix="batch-eks-bench-") as state_dir:
        with LocalEngine(blueprint="data-on-eks", state_dir=state_dir) as running:
            running.engine.scheduler.runtime.memory_poll_seconds = 30.0
            client = batch_client(running.url)
            template = client.describe_compute_environments(computeEnvironments=["doeks-CE1_OD"])["computeEnvironments"][0]
            resources = {
                key: template["computeResources"][key]
                for key in ("type", "allocationStrategy", "minvCpus", "instanceTypes", "subnets", "securityGroupIds", "instanceRole")
            }
            client.create_compute_environment(
                computeEnvironmentName=BENCH_CE,
                type="MANAGED",
                state="ENABLED",
                eksConfiguration=template["eksConfiguration"],
                computeResources={**resources, "maxvCpus": max_vcpus},
            )
            client.create_job_queue(
                jobQueueName=BENCH_QUEUE,
                priority=1,
                state="ENABLED",
                computeEnvironmentOrder=[{"order": 1, "computeEnvironment": BENCH_CE}],
            )
            client.register_job_definition(
                jobDefinitionName=BENCH_SLEEP_DEFINITION,
                type="container",
                eksProperties={
                    "podProperties": {
                        "containers": [
                            {
                                "name": "app",
                                "image": "public.ecr.aws/amazonlinux/amazonlinux:2",
                                "command": ["sleep", "600"],
                                "resources": {"limits": {"cpu": "0.25", "memory": "8Mi"}},
                            }
                        ]
                    }
                },
            )
            yield running


def submit_jobs(client: Any, count: int, prefix: str, queue: str = BENCH_QUEUE, definition: str = BENCH_SLEEP_DEFINITION) -> list[str]:
    return [client.submit_job(jobName=f"{prefix}-{i}", jobQueue=queue, jobDefinition=definition)["jobId"] for i in range(count)]


def describe_all(client: Any, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(job_ids), 100):
        for job in client.describe_jobs(jobs=job_ids[start : start + 100])["jobs"]:
            found[job["jobId"]] = job
    return found


def wait_until(predicate, timeout: float, interval: float = 1.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until truthy; raise ``TimeoutError`` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def request_counts(engine_url: str, service: str = "batch") -> dict[str, float]:
    """Requests the engine has answered so far, by operation (every outcome summed), read from ``/metrics``."""
    from prometheus_client.parser import text_string_to_metric_families  # how a scraper reads it

    with urllib.request.urlopen(f"{engine_url}/metrics", timeout=30) as response:
        text = response.read().decode()
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "batch_eks_api_requests_total" and sample.labels.get("service") == service:
                operation = sample.labels["operation"]
                counts[operation] = counts.get(operation, 0.0) + sample.value
    return counts


def rss_bytes() -> int:
    """This process's resident memory (``VmRSS`` of ``/proc/self/status``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """The machine and software the figures were measured on."""
    cpu_model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_bytes = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    memory_bytes = int(line.split()[1]) * 1024
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    commit = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip() or None
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(memory_bytes / 2**30, 1) if memory_bytes else None,
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "airflow": _version("apache-airflow"),
        "amazon_provider": _version("apache-airflow-providers-amazon"),
        "batch_eks_provider": _version("batch-eks-provider"),
        "botocore": _version("botocore"),
        "aiobotocore": _version("aiobotocore"),
        "git_commit": commit,
        "load_average_at_start": [round(x, 2) for x in load] if load else None,
    }
