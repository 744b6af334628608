"""Read the engine's Prometheus ``/metrics`` the way a scraper does (``prometheus_client``'s own parser).

The one reader of ``batch_eks_api_requests_total`` and the other engine metrics for every test suite.
"""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Samples", "metric_samples", "metric_value", "api_requests", "api_request_totals"]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
API_REQUESTS = "batch_eks_api_requests_total"


def metric_samples(engine_url: str) -> Samples:
    """Every sample of ``engine_url``'s ``/metrics``, keyed by (name, sorted labels)."""
    with urllib.request.urlopen(engine_url.rstrip("/") + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric_value(samples: Samples, name: str, **labels: str) -> float:
    """The sample of ``name`` with exactly these labels (0 when there is none)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _matching(samples: Samples, **wanted: str | None) -> float:
    total = 0.0
    for (name, labels), value in samples.items():
        if name != API_REQUESTS:
            continue
        found = dict(labels)
        if all(v is None or found.get(k) == v for k, v in wanted.items()):
            total += value
    return total


def api_requests(engine_url: str, operation: str | None = None, *, service: str | None = "batch", outcome: str | None = None) -> int:
    """Requests the engine answered, for ``operation`` of ``service`` (None: any), every outcome unless given."""
    return int(_matching(metric_samples(engine_url), service=service, operation=operation, outcome=outcome))


def api_request_totals(engine_url: str, service: str = "batch") -> dict[tuple[str, str], int]:
    """Every request of ``service`` the engine answered, by (operation, outcome)."""
    totals: dict[tuple[str, str], int] = {}
    for (name, labels), value in metric_samples(engine_url).items():
        found = dict(labels)
        if name == API_REQUESTS and found.get("service") == service:
            key = (found["operation"], found["outcome"])
            totals[key] = totals.get(key, 0) + int(value)
    return totals
