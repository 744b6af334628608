"""What an ended array job did, child by child, for the task log and XCom.

Batch fails an array parent as soon as one child fails; the parent's entry only counts its children by
status (``arrayProperties.statusSummary``). :func:`array_report` reads the failed children with
``ListJobs(arrayJobId=..., jobStatus="FAILED")`` pages and DescribeJobs by 100 (never one call per child),
and returns an :class:`ArrayReport`: the summary line, one line per failed child (the first
:data:`FAILED_CHILDREN_LISTED` by index, then a count), and the bounded per-child table XCom keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import logging
from typing import Any, Callable, Mapping

from ..exceptions import BatchEksArrayJobFailedError
from ..outcome import attempt_line

__all__ = [
    "ArrayReport",
    "FAILED_CHILDREN_LISTED",
    "FAILED_CHILDREN_LOGGED",
    "array_report",
    "is_array_parent",
    "settle_array",
]

FAILED_CHILDREN_LISTED = 20
"""Failed children named in the task log and kept in XCom (the lowest indexes); the rest are counted."""
FAILED_CHILDREN_LOGGED = 3
"""Failed children whose pod logs are copied into the task log."""
STATUS_ORDER = ("SUCCEEDED", "FAILED", "RUNNING", "STARTING", "RUNNABLE", "PENDING", "SUBMITTED")


def is_array_parent(job: Mapping[str, Any]) -> bool:
    """An array job's parent: it has a size and no index of its own (its children run, it does not)."""
    props = job.get("arrayProperties") or {}
    return bool(props.get("size")) and props.get("index") is None


@dataclass
class ArrayReport:
    """An ended array job: ``counts`` by status, the first failed children (``failed``) and how many failed."""

    job_id: str
    job_name: str | None
    status: str | None
    size: int
    counts: dict[str, int]
    failed: list[dict[str, Any]] = field(default_factory=list)
    failed_count: int = 0
    entries: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    """The DescribeJobs entries of the listed failed children (for their logs; not in XCom)."""

    @property
    def summary_line(self) -> str:
        counts = ", ".join(
            f"{self.counts[status]} {status}" for status in STATUS_ORDER if self.counts.get(status)
        ) or "no child counted"
        return f"array job {self.job_name} ({self.job_id}) {self.status}: {self.size} children: {counts}"

    def child_lines(self) -> list[str]:
        lines = [
            f"child {c['index']} ({c['job_id']}) FAILED: {c['status_reason'] or 'no reason given'}; "
            + (", ".join(f"{name}: exit {code}" for name, code in c["exit_codes"].items()) or "no container ran")
            + (f"; pod {c['pod_name']}" if c.get("pod_name") else "")
            for c in self.failed
        ]
        if self.failed_count > len(self.failed):
            lines.append(f"... and {self.failed_count - len(self.failed)} more failed children")
        return lines

    def to_xcom(self) -> dict[str, Any]:
        """The per-child table XCom keeps: counts, and the first :data:`FAILED_CHILDREN_LISTED` failed children."""
        return {
            "job_id": self.job_id,
            "size": self.size,
            "counts": dict(self.counts),
            "failed_count": self.failed_count,
            "failed_children": list(self.failed),
            "failed_children_listed": FAILED_CHILDREN_LISTED,
        }


def _child_row(child: Mapping[str, Any]) -> dict[str, Any]:
    attempts = child.get("eksAttempts") or []
    last = attempts[-1] if attempts else {}
    return {
        "index": (child.get("arrayProperties") or {}).get("index"),
        "job_id": child["jobId"],
        "status_reason": child.get("statusReason") or last.get("statusReason"),
        "exit_codes": {c.get("name"): c.get("exitCode") for c in last.get("containers", [])},
        "pod_name": last.get("podName"),
        "attempts": [attempt_line(n, a) for n, a in enumerate(attempts, start=1)],
    }


def array_report(hook: Any, parent: Mapping[str, Any]) -> ArrayReport:
    """Describe an ended array job's failed children (ListJobs pages, then DescribeJobs by 100).

    :param hook: A :class:`~batch_eks_provider.hooks.batch.BatchEksHook`.
    :param parent: The parent's DescribeJobs entry.
    """
    props = parent.get("arrayProperties") or {}
    counts = {k: int(v) for k, v in (props.get("statusSummary") or {}).items() if v}
    report = ArrayReport(
        job_id=parent["jobId"], job_name=parent.get("jobName"), status=parent.get("status"), size=int(props.get("size") or 0), counts=counts
    )
    if not counts.get("FAILED"):
        return report
    summaries = hook.list_jobs(arrayJobId=parent["jobId"], jobStatus="FAILED")
    summaries.sort(key=lambda s: (s.get("arrayProperties") or {}).get("index", 0))
    report.failed_count = len(summaries)
    listed = [s["jobId"] for s in summaries[:FAILED_CHILDREN_LISTED]]
    described = hook.describe_jobs(listed)
    report.entries = {job_id: described[job_id] for job_id in listed if job_id in described}
    report.failed = [_child_row(entry) for entry in report.entries.values()]
    return report


def settle_array(
    report: ArrayReport,
    parent: Mapping[str, Any],
    allowed_failures: int,
    log: logging.Logger | Any,
    fetch_logs: Callable[..., None],
) -> None:
    """Write the report into the task log (summary, failed children, the first failed children's pod logs) and
    decide: at most ``allowed_failures`` failed children succeed the task (saying which), more raise.

    :param fetch_logs: ``fetch_logs(child_entry, label=...)`` copies one child's attempt logs into the task log.
    :raises BatchEksArrayJobFailedError: more children failed than allowed (or the parent failed on its own).
    """
    log.info("AWS Batch %s", report.summary_line)
    for line in report.child_lines():
        log.info("AWS Batch %s", line)
    for child in report.failed[:FAILED_CHILDREN_LOGGED]:
        fetch_logs(report.entries[child["job_id"]], label=f"child {child['index']}")
    if report.failed_count == 0 and parent.get("status") == "SUCCEEDED":
        return
    name, job_id = parent.get("jobName"), parent["jobId"]
    if report.failed_count and report.failed_count <= allowed_failures:
        indexes = ", ".join(str(c["index"]) for c in report.failed)
        log.warning(
            "AWS Batch array job %s (%s): %d child(ren) failed (indexes %s), within allowed_failures=%d: the task succeeds",
            name, job_id, report.failed_count, indexes, allowed_failures,
        )
        return
    first = report.failed[0] if report.failed else None
    detail = report.child_lines()
    message = (
        f"AWS Batch array job {name} ({job_id}) failed: {report.failed_count} of {report.size} children failed"
        + (f" (allowed_failures={allowed_failures})" if allowed_failures else "")
        + (f"; first: index {first['index']}: {first['status_reason']}" if first else f": {parent.get('statusReason')}")
        + ("\n  " + "\n  ".join(detail) if detail else "")
    )
    raise BatchEksArrayJobFailedError(
        message, job_id=job_id, failed_children=report.failed, failed_count=report.failed_count, job=dict(parent)
    )
