"""Prometheus metrics of the engine, in a registry of its own (several engines can live in one process).

Read from the state at scrape time (gauges):

- ``batch_eks_jobs{queue,status}``: jobs by queue and status (array parents included)
- ``batch_eks_vcpus_in_use{compute_environment}``: vCPUs requested by the pods running now
- ``batch_eks_vcpus{compute_environment}``: vCPUs of the compute environment's nodes
- ``batch_eks_nodes{compute_environment,status}``: nodes by status (NotReady, Ready)
- ``batch_eks_pods{compute_environment,phase}``: pods that exist, by phase

Counted as things happen (counters, exposed with the ``_total`` suffix):

- ``batch_eks_api_requests_total{service,operation,outcome}``: every request of the AWS APIs (``batch``,
  ``eks``, ``logs``) and the Kubernetes API (``kubernetes``); outcome ``ok`` or the error type / reason
- ``batch_eks_attempts_total{compute_environment}``: attempts started
- ``batch_eks_attempts_finished_total{compute_environment,outcome}``: ``succeeded``, ``failed``,
  ``spot_reclaimed``, ``timed_out``
- ``batch_eks_jobs_finished_total{queue,status}``: jobs that reached SUCCEEDED or FAILED
- ``batch_eks_spot_reclaims_total{compute_environment}``: nodes reclaimed (Spot interruptions, injected reclaims)
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .store.models import Job, Node

__all__ = ["EngineMetrics", "cpu_quantity"]

_SPOT_REASON_PREFIX = "Host EC2"
_TIMEOUT_REASON = "Job attempt duration exceeded timeout"


def cpu_quantity(value: Any) -> float:
    """A Kubernetes CPU quantity (``2``, ``0.5``, ``250m``) in cores; anything unreadable counts as 0."""
    text = str(value).strip()
    try:
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        return 0.0


def _pod_vcpus(pod: Any) -> float:
    """What Batch places a pod by: the sum of its containers' cpu requests (a missing request is the limit)."""
    total = 0.0
    for container in pod.spec.get("containers", []):
        resources = container.get("resources") or {}
        requested = (resources.get("requests") or {}).get(
            "cpu", (resources.get("limits") or {}).get("cpu", 0)
        )
        total += cpu_quantity(requested)
    return total


def _queue_name(job: Job) -> str:
    return job.job_queue_arn.rsplit("/", 1)[-1]


class _StateCollector:
    """Gauges read from the state at scrape time."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self):
        jobs = GaugeMetricFamily("batch_eks_jobs", "Jobs by queue and status.", labels=["queue", "status"])
        counts: dict[tuple[str, str], int] = {}
        for job in list(self.state.jobs.values()):
            key = (_queue_name(job), job.status)
            counts[key] = counts.get(key, 0) + 1
        for (queue, status), n in sorted(counts.items()):
            jobs.add_metric([queue, status], n)
        yield jobs

        ces = list(self.state.compute_environments)
        nodes = GaugeMetricFamily(
            "batch_eks_nodes",
            "Nodes by compute environment and status.",
            labels=["compute_environment", "status"],
        )
        vcpus = GaugeMetricFamily(
            "batch_eks_vcpus",
            "vCPUs of the nodes of each compute environment.",
            labels=["compute_environment"],
        )
        node_counts: dict[tuple[str, str], int] = {}
        vcpu_totals: dict[str, float] = {ce: 0.0 for ce in ces}
        for node in list(self.state.nodes.values()):
            node_counts[(node.ce_name, node.status)] = node_counts.get((node.ce_name, node.status), 0) + 1
            vcpu_totals[node.ce_name] = vcpu_totals.get(node.ce_name, 0.0) + node.vcpus
        for (ce, status), n in sorted(node_counts.items()):
            nodes.add_metric([ce, status], n)
        for ce, total in sorted(vcpu_totals.items()):
            vcpus.add_metric([ce], total)
        yield nodes
        yield vcpus

        in_use = GaugeMetricFamily(
            "batch_eks_vcpus_in_use",
            "vCPUs requested by running pods, per compute environment.",
            labels=["compute_environment"],
        )
        pods = GaugeMetricFamily(
            "batch_eks_pods",
            "Pods by compute environment and phase.",
            labels=["compute_environment", "phase"],
        )
        used: dict[str, float] = {ce: 0.0 for ce in ces}
        pod_counts: dict[tuple[str, str], int] = {}
        for pod in list(self.state.pods.values()):
            pod_counts[(pod.ce_name, pod.phase)] = pod_counts.get((pod.ce_name, pod.phase), 0) + 1
            if pod.finished_at is None:
                used[pod.ce_name] = used.get(pod.ce_name, 0.0) + _pod_vcpus(pod)
        for ce, total in sorted(used.items()):
            in_use.add_metric([ce], total)
        for (ce, phase), n in sorted(pod_counts.items()):
            pods.add_metric([ce, phase], n)
        yield in_use
        yield pods


class EngineMetrics:
    """The engine's registry; the scheduler and the API layer report events through its methods."""

    def __init__(self, state: Any) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_StateCollector(state))
        self.api_requests = Counter(
            "batch_eks_api_requests",
            "API requests by service, operation and outcome.",
            ["service", "operation", "outcome"],
            registry=self.registry,
        )
        self.attempts = Counter(
            "batch_eks_attempts",
            "Attempts started, by compute environment.",
            ["compute_environment"],
            registry=self.registry,
        )
        self.attempts_finished = Counter(
            "batch_eks_attempts_finished",
            "Attempts finished, by compute environment and outcome.",
            ["compute_environment", "outcome"],
            registry=self.registry,
        )
        self.jobs_finished = Counter(
            "batch_eks_jobs_finished",
            "Jobs that reached a terminal status, by queue and status.",
            ["queue", "status"],
            registry=self.registry,
        )
        self.spot_reclaims = Counter(
            "batch_eks_spot_reclaims",
            "Nodes reclaimed (Spot interruptions and injected reclaims).",
            ["compute_environment"],
            registry=self.registry,
        )

    def api_request(self, service: str, operation: str, outcome: str) -> None:
        self.api_requests.labels(service, operation, outcome).inc()

    def attempt_started(self, job: Job, ce: Any) -> None:
        self.attempts.labels(ce.name).inc()

    def attempt_finished(self, job: Job, reason: str | None) -> None:
        if reason is None:
            outcome = "succeeded"
        elif reason.startswith(_SPOT_REASON_PREFIX):
            outcome = "spot_reclaimed"
        elif reason == _TIMEOUT_REASON:
            outcome = "timed_out"
        else:
            outcome = "failed"
        self.attempts_finished.labels(job.ce_name or "", outcome).inc()

    def job_finished(self, job: Job) -> None:
        self.jobs_finished.labels(_queue_name(job), job.status).inc()

    def spot_reclaimed(self, node: Node) -> None:
        self.spot_reclaims.labels(node.ce_name).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
