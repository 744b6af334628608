"""Benchmark of the local engine: API latency over HTTP and the overhead of running an array job.

Run with ``python -m benchmarks.engine`` (``--size``/``--concurrency`` to change the array job). It measures,
on this machine:

1. SubmitJob latency (boto3 over HTTP), p50/p99, while the scheduler runs (the jobs stay RUNNABLE on a
   compute environment with ``maxvCpus`` 0, so only the API and scheduler passes are measured);
2. DescribeJobs latency with 100 job ids per call, p50/p99;
3. the wall time of an array job of ``--size`` children running ``true`` on a CE that holds
   ``--concurrency`` of them at once (from SubmitJob to the parent's SUCCEEDED), against the wall time of
   the same processes spawned directly with asyncio at the same concurrency (same argv, environment,
   working directory per process, output pipe and new session, as the engine's runtime does).

The engine starts processes on a few threads (``fork_exec`` releases the GIL) and watches them with pidfds,
which is faster than plain asyncio; so the table also shows the same processes started by that spawner
alone, and the engine's ratio to it, which is the engine's own overhead.

4. the start-up of ``batch-eks local serve --blueprint data-on-eks``: from launching the command to the first
   answer of ``GET /version`` (wall and CPU seconds of the server process; median of ``--serve-runs``).

The targets are ``engine / direct < 1.5`` and serve start-up to ``/version`` < 2 s. Results go to stdout as a
table and to ``bench-results/engine.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from batch_eks_provider.local import LocalEngine
from batch_eks_provider.local.store.state import EngineConfig

__all__ = ["main", "run", "measure_serve_startup"]

SERVE_STARTUP_TARGET_SECONDS = 2.0
CLUSTER_ARN = "arn:aws:eks:us-east-1:123456789012:cluster/bench"


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def _client(url: str):
    return boto3.client(
        "batch", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench"
    )


def _setup(batch, ce: str, queue: str, max_vcpus: int, min_vcpus: int, instance_type: str) -> None:
    batch.create_compute_environment(
        computeEnvironmentName=ce,
        type="MANAGED",
        eksConfiguration={"eksClusterArn": CLUSTER_ARN, "kubernetesNamespace": "bench"},
        computeResources={
            "type": "EC2",
            "allocationStrategy": "BEST_FIT_PROGRESSIVE",
            "minvCpus": min_vcpus,
            "maxvCpus": max_vcpus,
            "instanceTypes": [instance_type],
            "subnets": ["subnet-1"],
            "securityGroupIds": ["sg-1"],
            "instanceRole": "arn:aws:iam::123456789012:instance-profile/bench",
        },
    )
    batch.create_job_queue(jobQueueName=queue, priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}])


def _register(batch, name: str, cpu: str) -> None:
    batch.register_job_definition(
        jobDefinitionName=name,
        type="container",
        eksProperties={"podProperties": {"containers": [
            {"name": "main", "image": "busybox", "command": ["true"], "resources": {"limits": {"cpu": cpu, "memory": "64Mi"}}}
        ]}},
    )


def measure_api(url: str, submits: int, describes: int) -> dict[str, Any]:
    batch = _client(url)
    _setup(batch, "api-ce", "api-q", max_vcpus=0, min_vcpus=0, instance_type="m5")
    _register(batch, "api-true", "1")
    for _ in range(10):  # warm up the connection pool and the code paths
        batch.submit_job(jobName="warm", jobQueue="api-q", jobDefinition="api-true")
    submit_ms, ids = [], []
    for i in range(submits):
        start = time.perf_counter()
        ids.append(batch.submit_job(jobName=f"j{i}", jobQueue="api-q", jobDefinition="api-true")["jobId"])
        submit_ms.append((time.perf_counter() - start) * 1000)
    describe_ms = []
    for i in range(describes):
        chunk = [ids[(i * 7 + k) % len(ids)] for k in range(100)]
        start = time.perf_counter()
        found = batch.describe_jobs(jobs=chunk)["jobs"]
        describe_ms.append((time.perf_counter() - start) * 1000)
        assert len(found) == len(set(chunk))
    return {
        "submit_job_ms": {"n": submits, "p50": _percentile(submit_ms, 50), "p99": _percentile(submit_ms, 99),
                          "mean": statistics.fmean(submit_ms)},
        "describe_jobs_100_ms": {"n": describes, "p50": _percentile(describe_ms, 50), "p99": _percentile(describe_ms, 99),
                                 "mean": statistics.fmean(describe_ms)},
    }


def measure_array(url: str, size: int, concurrency: int) -> dict[str, Any]:
    batch = _client(url)
    # nodes pre-warmed (minvCpus = maxvCpus = concurrency) and 1 vCPU per child: ``concurrency`` at once
    _setup(batch, "array-ce", "array-q", max_vcpus=concurrency, min_vcpus=concurrency, instance_type="m5")
    _register(batch, "array-true", "1")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait for the pre-warmed nodes
        ce = batch.describe_compute_environments(computeEnvironments=["array-ce"])["computeEnvironments"][0]
        if ce["status"] == "VALID":
            break
        time.sleep(0.05)
    start = time.perf_counter()
    parent = batch.submit_job(jobName="array", jobQueue="array-q", jobDefinition="array-true", arrayProperties={"size": size})["jobId"]
    while True:
        job = batch.describe_jobs(jobs=[parent])["jobs"][0]
        if job["status"] in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.05)
    wall = time.perf_counter() - start
    summary = job["arrayProperties"]["statusSummary"]
    return {"size": size, "concurrency": concurrency, "status": job["status"], "wall_seconds": wall,
            "succeeded": summary["SUCCEEDED"], "failed": summary["FAILED"]}


async def _direct(size: int, concurrency: int, work_root: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_BATCH")}
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> int:
        async with semaphore:
            work = work_root / f"p{i}"
            work.mkdir(parents=True, exist_ok=True)
            proc = await asyncio.create_subprocess_exec(
                "true",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env={**env, "AWS_BATCH_JOB_ARRAY_INDEX": str(i)},
                cwd=str(work),
                start_new_session=True,
            )
            assert proc.stdout is not None
            async for _ in proc.stdout:
                pass
            return await proc.wait()

    start = time.perf_counter()
    codes = await asyncio.gather(*(one(i) for i in range(size)))
    wall = time.perf_counter() - start
    assert all(code == 0 for code in codes)
    return wall


async def _direct_threaded(size: int, concurrency: int, work_root: Path, threads: int = 4) -> float:
    """The same processes started the way the engine's runtime starts them (fork/exec on a few threads,
    exit through a pidfd), without the engine: what is left of the ratio is the engine's own overhead."""
    from concurrent.futures import ThreadPoolExecutor

    from batch_eks_provider.local.runtime.local_process import spawn

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_BATCH")}
    semaphore = asyncio.Semaphore(concurrency)
    executor = ThreadPoolExecutor(max_workers=threads)

    async def one(i: int) -> int:
        async with semaphore:
            work = work_root / f"t{i}"
            work.mkdir(parents=True, exist_ok=True)
            proc = await spawn(["true"], {**env, "AWS_BATCH_JOB_ARRAY_INDEX": str(i)}, str(work), lambda line: None, executor)
            return await proc.wait()

    start = time.perf_counter()
    codes = await asyncio.gather(*(one(i) for i in range(size)))
    wall = time.perf_counter() - start
    executor.shutdown()
    assert all(code == 0 for code in codes)
    return wall


def _serve_command() -> list[str]:
    script = Path(sys.executable).with_name("batch-eks")
    return [str(script)] if script.exists() else [sys.executable, "-m", "batch_eks_provider.cli"]


def _answers_version(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/version", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc; 0.0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_serve_startup(runs: int, work_root: Path, limit_seconds: float = 60.0) -> dict[str, Any]:
    """Start ``batch-eks local serve --blueprint data-on-eks`` ``runs`` times; time each until /version answers."""
    walls, cpus = [], []
    for i in range(runs):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        start = time.perf_counter()
        process = subprocess.Popen(
            [*_serve_command(), "local", "serve", "--port", str(port), "--blueprint", "data-on-eks",
             "--state-dir", str(work_root / f"serve{i}")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not _answers_version(url):
                if process.poll() is not None or time.perf_counter() - start > limit_seconds:
                    raise RuntimeError(f"`batch-eks local serve` did not answer /version on {url}")
                time.sleep(0.01)
            walls.append(time.perf_counter() - start)
            cpus.append(_cpu_seconds(process.pid))
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    wall = statistics.median(walls)
    return {"runs": runs, "wall_seconds": wall, "wall_seconds_all": walls, "cpu_seconds": statistics.median(cpus),
            "target_seconds": SERVE_STARTUP_TARGET_SECONDS, "met": wall < SERVE_STARTUP_TARGET_SECONDS}


def run(size: int = 10_000, concurrency: int = 16, submits: int = 500, describes: int = 200, skip_api: bool = False,
        serve_runs: int = 3) -> dict[str, Any]:
    results: dict[str, Any] = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_at_start": os.getloadavg()},
    }
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        if serve_runs > 0:
            results["serve_startup"] = measure_serve_startup(serve_runs, Path(tmp))
        config = EngineConfig(node_startup_seconds=0.0, pod_retention_seconds=30.0, node_idle_seconds=60.0)
        if not skip_api:
            with LocalEngine(state_dir=Path(tmp) / "api", config=config) as local:
                results["api"] = measure_api(local.url, submits, describes)
        with LocalEngine(state_dir=Path(tmp) / "array", config=config) as local:
            results["array_engine"] = measure_array(local.url, size, concurrency)
        results["array_direct"] = {"size": size, "concurrency": concurrency,
                                   "wall_seconds": asyncio.run(_direct(size, concurrency, Path(tmp) / "direct"))}
        results["array_direct_threaded"] = {
            "size": size, "concurrency": concurrency,
            "wall_seconds": asyncio.run(_direct_threaded(size, concurrency, Path(tmp) / "direct-threaded")),
        }
    engine_wall = results["array_engine"]["wall_seconds"]
    ratio = engine_wall / results["array_direct"]["wall_seconds"]
    results["array_ratio"] = {
        "engine_over_direct": ratio,
        "target": 1.5,
        "met": ratio < 1.5,
        "engine_over_direct_same_spawner": engine_wall / results["array_direct_threaded"]["wall_seconds"],
    }
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    return results


def _table(results: dict[str, Any]) -> str:
    rows = []
    if "serve_startup" in results:
        r = results["serve_startup"]
        rows.append((f"serve start-up to /version (median of {r['runs']})", f"{r['wall_seconds']:.2f} s",
                     f"CPU {r['cpu_seconds']:.2f} s; target < {r['target_seconds']:g} s: " + ("met" if r["met"] else "NOT met")))
    if "api" in results:
        for key, label in (("submit_job_ms", "SubmitJob"), ("describe_jobs_100_ms", "DescribeJobs (100 ids)")):
            r = results["api"][key]
            rows.append((f"{label} latency (n={r['n']})", f"p50 {r['p50']:.2f} ms", f"p99 {r['p99']:.2f} ms"))
    eng, direct, ratio = results["array_engine"], results["array_direct"], results["array_ratio"]
    rows.append((f"Array job of {eng['size']} x `true` (concurrency {eng['concurrency']})", f"{eng['wall_seconds']:.2f} s",
                 f"{eng['succeeded']} succeeded"))
    rows.append((f"Same processes spawned directly (asyncio, concurrency {direct['concurrency']})",
                 f"{direct['wall_seconds']:.2f} s", ""))
    threaded = results["array_direct_threaded"]
    rows.append((f"Same processes, engine's spawner without the engine (concurrency {threaded['concurrency']})",
                 f"{threaded['wall_seconds']:.2f} s", "thread-pool fork/exec + pidfd"))
    rows.append(("Engine / direct (asyncio)", f"{ratio['engine_over_direct']:.2f}",
                 "target < 1.5: " + ("met" if ratio["met"] else "NOT met")))
    rows.append(("Engine / engine's spawner alone", f"{ratio['engine_over_direct_same_spawner']:.2f}", "the engine's own overhead"))
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measure'.ljust(width)}  {'value':>14}  note", "-" * (width + 40)]
    lines += [f"{a.ljust(width)}  {b:>14}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="array size (default 10000)")
    parser.add_argument("--concurrency", type=int, default=16, help="children running at once (the CE's vCPUs)")
    parser.add_argument("--submits", type=int, default=500)
    parser.add_argument("--describes", type=int, default=200)
    parser.add_argument("--skip-api", action="store_true", help="only the array job comparison")
    parser.add_argument("--serve-runs", type=int, default=3, help="times to start `batch-eks local serve` (0: skip)")
    parser.add_argument("--output", default="bench-results/engine.json")
    args = parser.parse_args(argv)
    results = run(args.size, args.concurrency, args.submits, args.describes, args.skip_api, args.serve_runs)
    print(_table(results))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
