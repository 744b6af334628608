"""Copy a Batch job's pod output into the Airflow task log: followed live while it runs, fetched after.

One :class:`PodLogCopier` per task: a background thread follows each running pod's log (the pod hook reopens a
quiet stream and ends with the pod); once the job ends, :meth:`PodLogCopier.stop` lets the streams write their
last lines, and :meth:`PodLogCopier.fetch` writes the attempts no stream saw to the end (too short to be seen
running, or cut off), from the pod or else from CloudWatch.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Collection

from .array_report import is_array_parent

__all__ = ["LOG_READ_TIMEOUT", "PodLogCopier"]

LOG_READ_TIMEOUT = 60.0
"""Read timeout of the log stream: seconds without a line before the pod hook reopens the stream."""
STREAM_JOIN_SECONDS = 5.0
"""How long an ended job's streams may take to write their last lines."""


class PodLogCopier:
    """Follow and fetch one task's pod logs.

    :param pod_hook: Returns the task's :class:`~batch_eks_provider.hooks.pods.BatchEksPodHook` (made on first use).
    :param log: The task's logger.
    """

    def __init__(self, pod_hook: Callable[[], Any], log: logging.Logger | Any) -> None:
        self._pod_hook = pod_hook
        self.log = log
        self._streams: dict[str, threading.Thread] = {}
        self._stop = threading.Event()
        self.streamed_to_the_end: set[str] = set()
        """Pods whose stream ended with the pod: nothing of theirs is left to fetch."""

    def follow(self, job: dict[str, Any]) -> None:
        """Start following the running pod of ``job`` (once per pod; nothing for a job not RUNNING)."""
        pod_name = ((job.get("eksProperties") or {}).get("podProperties") or {}).get("podName")
        if job.get("status") != "RUNNING" or not pod_name or pod_name in self._streams:
            return
        pods = self._pod_hook()
        self._stop.clear()

        def copy() -> None:
            try:
                for line in pods.stream_pod_logs(job, request_timeout=(10, LOG_READ_TIMEOUT)):
                    self.log.info("[%s] %s", pod_name, line)
                    if self._stop.is_set():
                        return
                self.streamed_to_the_end.add(pod_name)
            except Exception as error:  # noqa: BLE001 - logs are best effort; the job's state decides the task
                self.log.warning("Stopped following the logs of pod %s: %s", pod_name, error)

        self._streams[pod_name] = threading.Thread(target=copy, name=f"logs:{pod_name}", daemon=True)
        self._streams[pod_name].start()

    def stop(self) -> None:
        """Let every stream write its pod's last lines (bounded), then stop them."""
        for stream in self._streams.values():
            stream.join(timeout=STREAM_JOIN_SECONDS)
        self._stop.set()

    def fetch(self, job: dict[str, Any], skip_pods: Collection[str] = (), label: str | None = None) -> None:
        """Write the output of every attempt (except pods in ``skip_pods``) into the task log, each line after its
        pod's name (and ``label``, e.g. an array child's index)."""
        if is_array_parent(job):
            return  # an array parent has no pod; its children have one each
        attempts = job.get("eksAttempts") or []
        if all(a.get("podName") in skip_pods for a in attempts):
            return
        pods = self._pod_hook()
        for index, attempt in enumerate(attempts):
            if attempt.get("podName") in skip_pods:
                continue
            try:
                logs = pods.fetch_attempt_logs(job, index)
            except Exception as error:  # noqa: BLE001 - logs are best effort; the job's state decides the task
                self.log.warning("Could not fetch the logs of attempt %d of AWS Batch job %s: %s", index + 1, job["jobId"], error)
                continue
            prefix = f"{label} {logs.pod_name}" if label else logs.pod_name
            for line in logs.lines:
                self.log.info("[%s] %s", prefix, line)

    def fetch_unseen(self, job: dict[str, Any]) -> None:
        """After the end: the attempts no stream followed to their pod's end (their lines may repeat)."""
        self.fetch(job, skip_pods=self.streamed_to_the_end)
