"""What the submit operator leaves in XCom: the keys, and the summary of a job and its EKS attempts."""

from __future__ import annotations

from typing import Any

from ..outcome import attempt_line

__all__ = ["JOB_XCOM_KEY", "JOB_ID_XCOM_KEY", "JOBS_XCOM_KEY", "ARRAY_XCOM_KEY", "job_summary"]

JOB_XCOM_KEY = "batch_job"
"""The job and its attempts (:func:`job_summary`)."""
JOB_ID_XCOM_KEY = "batch_job_id"
JOBS_XCOM_KEY = "batch_job_ids"
"""Every job this try submitted, in order: ``[{"job_id", "job_queue", "replaced_because"}]`` (more than one
when ``on_stuck="next_queue"`` or ``max_spot_reclaims`` moved the work to another queue)."""
ARRAY_XCOM_KEY = "batch_array"
"""An array job's children by status and its first failed children (see :mod:`.array_report`)."""

def job_summary(job: dict[str, Any]) -> dict[str, Any]:
    """What the operator pushes to XCom as ``batch_job``: the job and each of its EKS attempts."""
    attempts = []
    for number, attempt in enumerate(job.get("eksAttempts") or [], start=1):
        attempts.append(
            {
                "attempt": number,
                "pod_name": attempt.get("podName"),
                "node_name": attempt.get("nodeName"),
                "started_at": attempt.get("startedAt"),
                "stopped_at": attempt.get("stoppedAt"),
                "status_reason": attempt.get("statusReason"),
                "exit_codes": {c.get("name"): c.get("exitCode") for c in attempt.get("containers", [])},
                "line": attempt_line(number, attempt),
            }
        )
    return {
        "job_id": job["jobId"],
        "job_name": job.get("jobName"),
        "job_queue": job.get("jobQueue"),
        "status": job.get("status"),
        "status_reason": job.get("statusReason"),
        "attempts": attempts,
    }
