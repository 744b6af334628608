"""Engines for the engine tests of every layer (service, scheduling, runtime): engines with their own clock
and config, and a small helper that creates compute environments, queues and job definitions through boto3."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from batch_eks_provider.hooks.pod_logs import fluent_bit_message, pod_stream_marker, stream_container
from batch_eks_provider.local import LocalEngine
from batch_eks_provider.local.clock import ManualClock
from batch_eks_provider.local.store.state import EngineConfig
from tests.support.aws import aws_client
from tests.support.waits import wait_for, wait_for_job

CLUSTER_ARN = "arn:aws:eks:us-east-1:123456789012:cluster/test-cluster"
NAMESPACE = "batch-jobs"


def admin(url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST to an admin route of the engine and return its JSON answer."""
    request = urllib.request.Request(
        url + path, data=json.dumps(body or {}).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class Env:
    """One running engine and a boto3 Batch client on it, with shortcuts to set up resources."""

    def __init__(self, local: LocalEngine) -> None:
        self.local = local
        self.url = local.url
        self.engine = local.engine
        self.batch = aws_client("batch", local.url)
        self.logs = aws_client("logs", local.url)

    def advance(self, seconds: float) -> None:
        admin(self.url, "/_local/clock/advance", {"seconds": seconds})

    def hold(self, ce: str = "ce") -> None:
        """Disable ``ce``: jobs submitted now wait RUNNABLE, and all meet the scheduler in one pass later."""
        self.batch.update_compute_environment(computeEnvironment=ce, state="DISABLED")

    def release(self, ce: str = "ce") -> None:
        self.batch.update_compute_environment(computeEnvironment=ce, state="ENABLED")

    def wait_running(self, ids: list[str], count: int) -> list[dict[str, Any]]:
        """Wait until ``count`` of ``ids`` run, let the scheduler settle, and return exactly those running."""
        wait_for(lambda: sum(j["status"] == "RUNNING" for j in self.jobs(ids)) >= count, timeout=10, what=f"{count} running jobs")
        self.settle()
        running = [j for j in self.jobs(ids) if j["status"] == "RUNNING"]
        assert len(running) == count
        return running

    def fair_queue(self, fairshare: dict[str, Any], name: str = "q", ces: tuple[str, ...] = ("ce",)) -> None:
        """Queue ``name`` with a fair-share policy, its CEs held (see :meth:`hold`)."""
        self.queue(name, list(ces), policy_arn=self.policy("fair", fairshare))
        for ce in ces:
            self.hold(ce)

    def settle(self, passes: int = 3) -> None:
        """Wait until the scheduler has made a few more passes (so "nothing happened" means something)."""
        scheduler = self.engine.scheduler
        target = scheduler.passes + passes
        wait_for(lambda: (scheduler.wake_threadsafe(), scheduler.passes >= target)[1], timeout=10, what="scheduler passes")

    def ce(self, name: str, *, max_vcpus: int = 16, min_vcpus: int = 0, instance_types=("m5",), spot: bool = False,
           cluster: str = CLUSTER_ARN, state: str = "ENABLED") -> str:
        self.batch.create_compute_environment(
            computeEnvironmentName=name,
            type="MANAGED",
            state=state,
            eksConfiguration={"eksClusterArn": cluster, "kubernetesNamespace": NAMESPACE},
            computeResources={
                "type": "SPOT" if spot else "EC2",
                "allocationStrategy": "SPOT_CAPACITY_OPTIMIZED" if spot else "BEST_FIT_PROGRESSIVE",
                "minvCpus": min_vcpus,
                "maxvCpus": max_vcpus,
                "instanceTypes": list(instance_types),
                "subnets": ["subnet-1"],
                "securityGroupIds": ["sg-1"],
                "instanceRole": "arn:aws:iam::123456789012:instance-profile/node",
            },
        )
        wait_for(lambda: self.describe_ce(name)["status"] in ("VALID", "INVALID"), timeout=10, what=f"CE {name} settled")
        return name

    def describe_ce(self, name: str) -> dict[str, Any]:
        return self.batch.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"][0]

    def queue(self, name: str, ces: list[str], *, priority: int = 1, policy_arn: str | None = None,
              state: str = "ENABLED", time_limits: list[dict[str, Any]] | None = None) -> str:
        params: dict[str, Any] = {
            "jobQueueName": name,
            "priority": priority,
            "state": state,
            "computeEnvironmentOrder": [{"order": i + 1, "computeEnvironment": ce} for i, ce in enumerate(ces)],
        }
        if policy_arn:
            params["schedulingPolicyArn"] = policy_arn
        if time_limits:
            params["jobStateTimeLimitActions"] = time_limits
        self.batch.create_job_queue(**params)
        return name

    def policy(self, name: str, fairshare: dict[str, Any]) -> str:
        """A fair-share scheduling policy (CreateSchedulingPolicy); returns its ARN."""
        return self.batch.create_scheduling_policy(name=name, fairsharePolicy=fairshare)["arn"]

    def definition(self, name: str, command: list[str], *, cpu: str = "1", memory: str = "256Mi", **extra: Any) -> str:
        container = {
            "name": "main",
            "image": "public.ecr.aws/amazonlinux/amazonlinux:2",
            "command": command,
            "resources": {"limits": {"cpu": cpu, "memory": memory}},
        }
        pod = {"containers": [container], **extra.pop("pod", {})}
        self.batch.register_job_definition(
            jobDefinitionName=name, type="container", eksProperties={"podProperties": pod}, **extra
        )
        return name

    def submit(self, queue: str, definition: str, name: str = "job", **params: Any) -> str:
        return self.batch.submit_job(jobName=name, jobQueue=queue, jobDefinition=definition, **params)["jobId"]

    def job(self, job_id: str) -> dict[str, Any]:
        return self.batch.describe_jobs(jobs=[job_id])["jobs"][0]

    def jobs(self, ids: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i in range(0, len(ids), 100):
            out += self.batch.describe_jobs(jobs=ids[i : i + 100])["jobs"]
        return out

    def wait(self, job_id: str, statuses=("SUCCEEDED", "FAILED"), timeout: float = 30.0) -> dict[str, Any]:
        return wait_for_job(self.batch, job_id, statuses, timeout)

    def wait_status(self, job_id: str, status: str, timeout: float = 15.0) -> dict[str, Any]:
        return wait_for_job(self.batch, job_id, (status,), timeout)

    def attempt_output(self, attempt: dict[str, Any], container: str | None = None) -> list[str]:
        """What one attempt's container printed, read from CloudWatch Logs as a user would (the stream
        Fluent Bit writes on EKS). ``container`` defaults to the attempt's only container."""
        if container is None:
            (only,) = attempt["containers"]
            container = only["name"]
        cluster = attempt["eksClusterArn"].rsplit("/", 1)[-1]
        marker = pod_stream_marker(attempt["podName"], attempt["podNamespace"])
        pages = self.logs.get_paginator("filter_log_events").paginate(
            logGroupName=f"/aws/containerinsights/{cluster}/application",
            logStreamNamePrefix=f"{attempt['nodeName']}-application.var.log{marker}{container}",
        )  # the stream ends _<container>-<container id>.log, as Container Insights names it
        return [
            fluent_bit_message(e["message"])
            for page in pages
            for e in page["events"]
            if stream_container(e["logStreamName"], marker) == container
        ]

    def wait_for_output(self, job_id: str, line: str, container: str = "main", timeout: float = 10.0) -> None:
        """Wait until the job's running attempt has printed ``line`` (e.g. once its signal traps are set)."""

        def printed() -> bool:
            job = self.job(job_id)
            pod = job["eksProperties"]["podProperties"]
            if "podName" not in pod:
                return False
            attempt = {"podName": pod["podName"], "nodeName": pod["nodeName"], "podNamespace": NAMESPACE,
                       "eksClusterArn": CLUSTER_ARN}
            try:
                return line in self.attempt_output(attempt, container)
            except self.logs.exceptions.ResourceNotFoundException:
                return False

        wait_for(printed, timeout=timeout, what=f"job {job_id} to print {line!r}")

    def env_of(self, job: dict[str, Any]) -> dict[str, str]:
        """The environment the job's last attempt ran with, as the job printed it with ``env``."""
        lines = self.attempt_output(job["eksAttempts"][-1])
        return dict(line.split("=", 1) for line in lines if "=" in line)


@pytest.fixture
def make_env(tmp_path):
    """Start engines on demand: ``make_env(clock=ManualClock(), state_dir=..., **config)``."""
    started: list[LocalEngine] = []

    def make(*, clock=None, state_dir=None, **config: Any) -> Env:
        defaults = {"node_startup_seconds": 0.0, "node_idle_seconds": 1.0, "termination_grace_seconds": 1.0, "random_seed": 7}
        local = LocalEngine(
            state_dir=state_dir if state_dir is not None else tmp_path / f"engine{len(started)}",
            config=EngineConfig(**{**defaults, **config}),
            clock=clock,
        )
        local.start()
        started.append(local)
        return Env(local)

    yield make
    for local in reversed(started):
        local.stop()


@pytest.fixture
def env(make_env) -> Env:
    """An engine on the system clock with a 16-vCPU m5 CE and queue ``q``."""
    e = make_env()
    e.ce("ce")
    e.queue("q", ["ce"])
    return e


@pytest.fixture
def slots(make_env) -> Env:
    """An engine whose CE ``ce`` holds exactly four 1-vCPU jobs (one pre-warmed m5.xlarge); definition ``hold``."""
    e = make_env()
    e.ce("ce", min_vcpus=4, max_vcpus=4, instance_types=["m5.xlarge"])
    e.definition("hold", ["sleep", "60"], cpu="1")
    return e


@pytest.fixture
def manual(make_env) -> Env:
    """An engine on a ManualClock with a 16-vCPU m5 CE and queue ``q``."""
    e = make_env(clock=ManualClock())
    e.ce("ce")
    e.queue("q", ["ce"])
    return e


__all__ = ["Env", "admin", "ManualClock"]
