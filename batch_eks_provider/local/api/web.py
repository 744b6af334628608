"""The engine's read-only web page (server-rendered HTML, no JavaScript).

- ``GET /``: job queues, compute environments, nodes and the latest jobs with their attempts, each attempt
  linking to its logs. Refreshes itself every few seconds.
- ``GET /_local/ui/logs?pod=NAME``: a pod's output, from memory while the pod exists and from the
  CloudWatch Logs copy once it is gone.

Every value that reaches the page goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import Any, Iterable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..store.fluent_bit import log_group_for_cluster, log_stream_name

__all__ = ["web_routes", "JOBS_ON_PAGE", "pod_log_lines"]

JOBS_ON_PAGE = 200
_LOG_LINES_ON_PAGE = 10000
_REFRESH_SECONDS = 5

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
.SUCCEEDED, .VALID, .Ready, .ENABLED { color: #17692b; }
.FAILED, .INVALID, .DISABLED, .NotReady { color: #a4161a; }
.RUNNING, .STARTING { color: #1d4ed8; }
pre { background: #f7f7f7; padding: 0.8em; border: 1px solid #ddd; overflow-x: auto; }
.muted { color: #666; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _time(epoch_ms: int | float | None) -> str:
    if not epoch_ms:
        return ""
    return datetime.fromtimestamp(epoch_ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _page(title: str, body: str, refresh: bool) -> HTMLResponse:
    meta = f'<meta http-equiv="refresh" content="{_REFRESH_SECONDS}">' if refresh else ""
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}<title>{_e(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _table(headers: Iterable[str], rows: list[list[str]], empty: str) -> str:
    """Rows hold HTML that is already escaped."""
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _status(value: Any) -> str:
    return f'<span class="{_e(value)}">{_e(value)}</span>'


def _log_link(pod_name: str) -> str:
    return f'<a href="/_local/ui/logs?pod={quote(pod_name)}">{_e(pod_name)}</a>'


# -- the overview ---------------------------------------------------------------------------------------------------
def _queues(state: Any) -> str:
    rows = []
    for queue in sorted(state.job_queues.values(), key=lambda q: (-q.priority, q.name)):
        ces = ", ".join(arn.rsplit("/", 1)[-1] for arn in queue.compute_environment_arns)
        policy = (queue.scheduling_policy_arn or "").rsplit("/", 1)[-1]
        rows.append(
            [
                f'<span id="queue-{_e(queue.name)}">{_e(queue.name)}</span>',
                _status(queue.state),
                _status(queue.status),
                _e(queue.priority),
                _e(ces),
                _e(policy or "FIFO"),
            ]
        )
    return _table(
        ["Queue", "State", "Status", "Priority", "Compute environments", "Scheduling"], rows, "No job queues."
    )


def _compute_environments(engine: Any) -> str:
    rows = []
    for ce in sorted(engine.state.compute_environments.values(), key=lambda c: c.name):
        res = ce.compute_resources
        vcpus = sum(n.vcpus for n in engine.state.nodes.values() if n.ce_name == ce.name)
        rows.append(
            [
                _e(ce.name),
                _status(ce.state),
                _status(ce.status)
                + (f"<br><span class=muted>{_e(ce.status_reason)}</span>" if ce.status_reason else ""),
                _e(res.get("type")),
                _e(f"{res.get('minvCpus', 0)} / {res.get('desiredvCpus', 0)} / {res.get('maxvCpus', 0)}"),
                _e(f"{vcpus:g}"),
                _e(ce.namespace),
                _e(ce.cluster_arn.rsplit("/", 1)[-1]),
            ]
        )
    return _table(
        [
            "Compute environment",
            "State",
            "Status",
            "Type",
            "min / desired / max vCPUs",
            "vCPUs up",
            "Namespace",
            "EKS cluster",
        ],
        rows,
        "No compute environments.",
    )


def _nodes(engine: Any) -> str:
    usage = getattr(getattr(engine.scheduler, "capacity", None), "usage", {})
    rows = []
    for node in sorted(engine.state.nodes.values(), key=lambda n: (n.ce_name, n.name)):
        use = usage.get(node.name)
        rows.append(
            [
                _e(node.name),
                _e(node.ce_name),
                _e(node.instance_type),
                _e(node.capacity_type),
                _status(node.status),
                _e(f"{use.cpu if use else 0:g} / {node.vcpus:g}"),
                _e(use.pods if use else 0),
                _e(node.instance_id),
            ]
        )
    return _table(
        [
            "Node",
            "Compute environment",
            "Instance type",
            "Capacity",
            "Status",
            "vCPUs used",
            "Pods",
            "Instance",
        ],
        rows,
        "No nodes (they are launched for RUNNABLE jobs).",
    )


def _attempts(job: Any) -> str:
    parts = []
    for number, attempt in enumerate(job.eks_attempts, start=1):
        codes = ", ".join(
            f"{c.get('name', '')}: {c.get('exitCode', '-')} {c.get('reason', '')}".strip()
            for c in attempt.get("containers", [])
        )
        line = f"#{number} {_log_link(attempt['podName'])} " if attempt.get("podName") else f"#{number} "
        line += f"<span class=muted>{_e(codes)}</span>"
        if attempt.get("statusReason"):
            line += f"<br><span class=muted>{_e(attempt['statusReason'])}</span>"
        parts.append(line)
    if job.pod_name and job.status in ("STARTING", "RUNNING"):
        parts.append(f"#{job.attempt_number} {_log_link(job.pod_name)} <span class=RUNNING>running</span>")
    return "<br>".join(parts)


def _jobs(engine: Any) -> str:
    # newest first; jobs submitted in the same millisecond keep their submission (insertion) order
    ordered = sorted(
        enumerate(engine.state.jobs.values()), key=lambda pair: (pair[1].created_at, pair[0]), reverse=True
    )
    jobs = [job for _, job in ordered]
    shown = jobs[:JOBS_ON_PAGE]
    rows = [
        [
            f'<span id="job-{_e(job.job_id)}">{_e(job.job_id)}</span>',
            _e(job.job_name),
            _e(job.job_queue_arn.rsplit("/", 1)[-1]),
            _status(job.status),
            _e(job.status_reason),
            _e(_time(job.created_at)),
            _attempts(job),
        ]
        for job in shown
    ]
    note = f'<p class="muted">Latest {len(shown)} of {len(jobs)} jobs.</p>' if len(jobs) > len(shown) else ""
    return note + _table(
        ["Job id", "Name", "Queue", "Status", "Reason", "Created (UTC)", "Attempts and logs"],
        rows,
        "No jobs yet.",
    )


async def _index(request: Request) -> Response:
    engine = request.app.state.engine
    body = (
        "<h1>batch-eks local engine</h1>"
        f'<p class="muted">AWS Batch on EKS on this machine. Endpoint <code>{_e(str(request.base_url).rstrip("/"))}</code>'
        ' &middot; <a href="/metrics">metrics</a> &middot; refreshes every '
        f"{_REFRESH_SECONDS} s</p>"
        f"<h2>Job queues</h2>{_queues(engine.state)}"
        f"<h2>Compute environments</h2>{_compute_environments(engine)}"
        f"<h2>Nodes</h2>{_nodes(engine)}"
        f"<h2>Jobs</h2>{_jobs(engine)}"
    )
    return _page("batch-eks local engine", body, refresh=True)


# -- one pod's logs ---------------------------------------------------------------------------------------------------
def pod_log_lines(engine: Any, pod_name: str) -> tuple[dict[str, list[str]], str]:
    """A pod's output by container, and where it came from (``pod`` while it exists, else ``CloudWatch Logs``)."""
    in_memory = {
        container: [line.message for line in lines]
        for (pod, container), lines in list(engine.logs.lines.items())
        if pod == pod_name
    }
    if in_memory and pod_name in engine.state.pods:
        return in_memory, "pod"
    engine.logs.flush()
    where, params = "instr(log_stream, ?) > 0", (pod_name,)
    attempt = _attempt_of(engine, pod_name)
    if attempt is not None:  # the streams' names are known: an index range instead of a scan
        prefix = log_stream_name(attempt["nodeName"], pod_name, attempt["podNamespace"], "")[: -len(".log")]
        where, params = (
            "log_group = ? AND log_stream >= ? AND log_stream < ?",
            (log_group_for_cluster(attempt["eksClusterArn"]), prefix, prefix + "\U0010ffff"),
        )
    by_stream: dict[str, list[str]] = {}
    for _, stream, _, _, message in engine.store.select_log_events(where, params, _LOG_LINES_ON_PAGE):
        by_stream.setdefault(stream, []).append(message)
    return by_stream, "CloudWatch Logs"


def _attempt_of(engine: Any, pod_name: str) -> dict[str, Any] | None:
    for job in engine.state.jobs.values():
        for attempt in job.eks_attempts:
            if (
                attempt.get("podName") == pod_name
                and attempt.get("nodeName")
                and attempt.get("eksClusterArn")
            ):
                return attempt
    return None


async def _logs(request: Request) -> Response:
    engine = request.app.state.engine
    pod_name = request.query_params.get("pod", "")
    if not pod_name:
        return _page("Logs", "<p>Give a pod: <code>/_local/ui/logs?pod=aws-batch.…</code></p>", refresh=False)
    pod = engine.state.pods.get(pod_name)
    sections, source = pod_log_lines(engine, pod_name)
    running = pod is not None and pod.finished_at is None
    header = (
        f'<p><a href="/">&larr; overview</a></p><h1>Logs of {_e(pod_name)}</h1>'
        f'<p class="muted">Source: {_e(source)}'
        + (
            f" &middot; job {_e(pod.job_id)} attempt {_e(pod.attempt_number)} &middot; {_e(pod.phase)}"
            if pod
            else ""
        )
        + "</p>"
    )
    if not sections:
        body = header + '<p class="muted">No output (yet).</p>'
    else:
        body = header + "".join(
            f"<h2>{_e(name)}</h2><pre>{_e(chr(10).join(lines))}</pre>"
            for name, lines in sorted(sections.items())
        )
    return _page(f"Logs of {pod_name}", body, refresh=running)


def web_routes() -> list[Route]:
    return [
        Route("/", _index, methods=["GET"]),
        Route("/_local/ui/logs", _logs, methods=["GET"]),
    ]
