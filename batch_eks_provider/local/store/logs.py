"""Container output, kept the way Fluent Bit ships it to CloudWatch Logs on EKS.

Every line a container prints is stored twice over: in memory per pod and container (what the
Kubernetes ``pods/{name}/log`` route serves while the pod exists) and as a CloudWatch log event in the
group ``/aws/containerinsights/<cluster>/application`` on a stream whose name holds the pod name, which
outlives the pod.

Both copies are bounded: a container keeps its last :data:`MAX_LINES_PER_CONTAINER` lines in memory (the
kubelet rotates container logs too), and CloudWatch events older than the retention period are deleted.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..clock import Clock
from .sqlite import Store

__all__ = [
    "LogLine",
    "LogStore",
    "log_group_for_cluster",
    "log_stream_name",
    "MAX_LINES_PER_CONTAINER",
    "LOG_RETENTION_SECONDS",
]

MAX_LINES_PER_CONTAINER = 10_000
LOG_RETENTION_SECONDS = 7 * 24 * 3600  # as long as Batch keeps a finished job
_EXPIRY_EVERY_SECONDS = 600.0  # how often (engine clock) a flush also deletes expired events


@dataclass
class LogLine:
    timestamp: float  # epoch seconds
    message: str


def log_group_for_cluster(cluster_arn_or_name: str) -> str:
    return f"/aws/containerinsights/{cluster_arn_or_name.rsplit('/', 1)[-1]}/application"


def log_stream_name(node_name: str, pod_name: str, namespace: str, container: str) -> str:
    return f"{node_name}-application.var.log.containers.{pod_name}_{namespace}_{container}.log"


class LogStore:
    """The in-memory lines of live pods and the CloudWatch events of every pod.

    ``lines`` is keyed by ``(pod, container)`` for readers; ``_containers`` indexes the same keys by pod,
    so that ending or deleting a pod touches only that pod's containers.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        max_lines_per_container: int = MAX_LINES_PER_CONTAINER,
        retention_seconds: float = LOG_RETENTION_SECONDS,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_lines_per_container = max_lines_per_container
        self.retention_seconds = retention_seconds
        self.lines: dict[tuple[str, str], list[LogLine]] = {}  # (pod, container) -> its last lines
        self._containers: dict[str, set[str]] = {}  # pod -> containers that printed or are followed
        self._pending: list[tuple[str, str, int, int, str]] = []
        self._waiters: dict[tuple[str, str], asyncio.Event] = {}
        self._next_expiry = clock.now()

    def append(self, pod_name: str, container: str, line: str, *, group: str, stream: str) -> None:
        now = self.clock.now()
        key = (pod_name, container)
        lines = self.lines.get(key)
        if lines is None:
            lines = self.lines[key] = []
            self._containers.setdefault(pod_name, set()).add(container)
        lines.append(LogLine(now, line))
        if len(lines) >= 2 * self.max_lines_per_container:  # trim in blocks: O(1) per line on average
            del lines[: len(lines) - self.max_lines_per_container]
        ms = int(now * 1000)
        self._pending.append((group, stream, ms, ms, line))
        waiter = self._waiters.get(key)
        if waiter is not None:
            waiter.set()

    def waiter(self, pod_name: str, container: str) -> asyncio.Event:
        """An event set whenever the container prints (for ``follow=true`` log streaming)."""
        key = (pod_name, container)
        event = self._waiters.get(key)
        if event is None:
            event = self._waiters[key] = asyncio.Event()
            self._containers.setdefault(pod_name, set()).add(container)
        return event

    def notify(self, pod_name: str) -> None:
        """Wake followers of every container of a pod (the pod ended)."""
        for container in self._containers.get(pod_name, ()):
            event = self._waiters.get((pod_name, container))
            if event is not None:
                event.set()

    def forget_pod(self, pod_name: str) -> None:
        """Drop the in-memory copy once the pod is deleted; the CloudWatch copy remains."""
        for container in self._containers.pop(pod_name, ()):
            self.lines.pop((pod_name, container), None)
            event = self._waiters.pop((pod_name, container), None)
            if event is not None:
                event.set()

    def flush(self) -> None:
        """Write the pending CloudWatch events; now and then also delete the expired ones."""
        if self._pending:
            rows, self._pending = self._pending, []
            self.store.append_log_events(rows)
        now = self.clock.now()
        if now >= self._next_expiry:
            self._next_expiry = now + _EXPIRY_EVERY_SECONDS
            self.store.delete_log_events_before(int((now - self.retention_seconds) * 1000))
