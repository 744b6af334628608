"""Prometheus metrics of the engine, in a registry of its own (several engines can live in one process)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .models import Job, Node

__all__ = ["EngineMetrics"]


class _StateCollector:
    """Gauges read from the state at scrape time: jobs by queue and status, vCPUs in use, nodes."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self):
        jobs = GaugeMetricFamily("batch_eks_jobs", "Jobs by queue and status.", labels=["queue", "status"])
        counts: dict[tuple[str, str], int] = {}
        for job in self.state.jobs.values():
            key = (job.job_queue_arn.rsplit("/", 1)[-1], job.status)
            counts[key] = counts.get(key, 0) + 1
        for (queue, status), n in sorted(counts.items()):
            jobs.add_metric([queue, status], n)
        yield jobs
        nodes = GaugeMetricFamily("batch_eks_nodes", "Nodes by compute environment and status.", labels=["compute_environment", "status"])
        vcpus = GaugeMetricFamily("batch_eks_vcpus", "vCPUs of the nodes of each compute environment.", labels=["compute_environment"])
        node_counts: dict[tuple[str, str], int] = {}
        vcpu_totals: dict[str, float] = {ce: 0.0 for ce in self.state.compute_environments}
        for node in self.state.nodes.values():
            node_counts[(node.ce_name, node.status)] = node_counts.get((node.ce_name, node.status), 0) + 1
            vcpu_totals[node.ce_name] = vcpu_totals.get(node.ce_name, 0.0) + node.vcpus
        for (ce, status), n in sorted(node_counts.items()):
            nodes.add_metric([ce, status], n)
        for ce, total in sorted(vcpu_totals.items()):
            vcpus.add_metric([ce], total)
        yield nodes
        yield vcpus


class EngineMetrics:
    def __init__(self, state: Any) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_StateCollector(state))
        self.api_requests = Counter(
            "batch_eks_api_requests", "API requests by service, operation and outcome.",
            ["service", "operation", "outcome"], registry=self.registry,
        )
        self.attempts = Counter(
            "batch_eks_attempts", "Attempts started, by compute environment.", ["compute_environment"], registry=self.registry
        )
        self.attempts_finished = Counter(
            "batch_eks_attempts_finished", "Attempts finished, by outcome.", ["outcome"], registry=self.registry
        )
        self.spot_reclaims = Counter(
            "batch_eks_spot_reclaims", "Nodes reclaimed (Spot interruptions and injected reclaims).", ["compute_environment"],
            registry=self.registry,
        )
        self.vcpus_in_use = Gauge(
            "batch_eks_vcpus_in_use", "vCPUs requested by running pods, per compute environment.", ["compute_environment"],
            registry=self.registry,
        )

    def api_request(self, service: str, operation: str, outcome: str) -> None:
        self.api_requests.labels(service, operation, outcome).inc()

    def attempt_started(self, job: Job, ce: Any) -> None:
        self.attempts.labels(ce.name).inc()

    def attempt_finished(self, job: Job, reason: str | None) -> None:
        self.attempts_finished.labels("succeeded" if reason is None else "failed").inc()

    def job_finished(self, job: Job) -> None:
        pass

    def spot_reclaimed(self, node: Node) -> None:
        self.spot_reclaims.labels(node.ce_name).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
