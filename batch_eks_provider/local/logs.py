"""Container output, kept the way Fluent Bit ships it to CloudWatch Logs on EKS.

Every line a container prints is stored twice over: in memory per pod and container (what the
Kubernetes ``pods/{name}/log`` route serves while the pod exists) and as a CloudWatch log event in the
group ``/aws/containerinsights/<cluster>/application`` on a stream whose name holds the pod name, which
outlives the pod.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from .clock import Clock
from .store import Store

__all__ = ["LogLine", "LogStore", "log_group_for_cluster", "log_stream_name"]


@dataclass
class LogLine:
    timestamp: float  # epoch seconds
    message: str


def log_group_for_cluster(cluster_arn_or_name: str) -> str:
    return f"/aws/containerinsights/{cluster_arn_or_name.rsplit('/', 1)[-1]}/application"


def log_stream_name(node_name: str, pod_name: str, namespace: str, container: str) -> str:
    return f"{node_name}-application.var.log.containers.{pod_name}_{namespace}_{container}.log"


class LogStore:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.lines: dict[tuple[str, str], list[LogLine]] = defaultdict(list)  # (pod, container) -> lines
        self._pending: list[tuple[str, str, int, int, str]] = []
        self._waiters: dict[tuple[str, str], asyncio.Event] = {}

    def append(self, pod_name: str, container: str, line: str, *, group: str, stream: str) -> None:
        now = self.clock.now()
        self.lines[(pod_name, container)].append(LogLine(now, line))
        ms = int(now * 1000)
        self._pending.append((group, stream, ms, ms, line))
        waiter = self._waiters.get((pod_name, container))
        if waiter is not None:
            waiter.set()

    def waiter(self, pod_name: str, container: str) -> asyncio.Event:
        """An event set whenever the container prints (for ``follow=true`` log streaming)."""
        return self._waiters.setdefault((pod_name, container), asyncio.Event())

    def notify(self, pod_name: str) -> None:
        """Wake followers of every container of a pod (the pod ended)."""
        for (pod, _), event in self._waiters.items():
            if pod == pod_name:
                event.set()

    def forget_pod(self, pod_name: str) -> None:
        """Drop the in-memory copy once the pod is deleted; the CloudWatch copy remains."""
        for key in [k for k in self.lines if k[0] == pod_name]:
            del self.lines[key]
        for key in [k for k in self._waiters if k[0] == pod_name]:
            self._waiters.pop(key).set()

    def flush(self) -> None:
        if self._pending:
            rows, self._pending = self._pending, []
            self.store.append_log_events(rows)
