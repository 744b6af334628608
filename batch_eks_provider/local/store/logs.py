"""Container output, kept the way Fluent Bit ships it to CloudWatch Logs on EKS.

Every line a container prints is stored twice over: in memory per pod and container (what the
Kubernetes ``pods/{name}/log`` route serves while the pod exists) and as a CloudWatch log event in the
group ``/aws/containerinsights/<cluster>/application`` on a stream whose name holds the pod name, which
outlives the pod.

Both copies are bounded: a container keeps its last :data:`MAX_LINES_PER_CONTAINER` lines in memory (the
kubelet rotates container logs too), and CloudWatch events older than the retention period are deleted.
A line longer than :data:`MAX_EVENT_BYTES` (CloudWatch's 256 KiB event limit less the 26 bytes it counts
per event) is split into several events, as Fluent Bit does. A container's output past
``max_bytes_per_container``, and any output once the stored total reaches ``max_bytes_total``, is dropped
with one marker line (:func:`dropped_marker`) per container.
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
    "MAX_EVENT_BYTES",
    "LOG_RETENTION_SECONDS",
    "DEFAULT_MAX_BYTES_PER_CONTAINER",
    "DEFAULT_MAX_BYTES_TOTAL",
    "dropped_marker",
    "split_message",
]

MAX_LINES_PER_CONTAINER = 10_000
MAX_EVENT_BYTES = 256 * 1024 - 26  # CloudWatch: 256 KiB per event, counting 26 bytes of overhead
DEFAULT_MAX_BYTES_PER_CONTAINER = 100 * 1024 * 1024
DEFAULT_MAX_BYTES_TOTAL = 1024 * 1024 * 1024
_FLUSH_EVERY_EVENTS = 20_000  # a batch this large is written at once, in one transaction
LOG_RETENTION_SECONDS = 7 * 24 * 3600  # as long as Batch keeps a finished job
_EXPIRY_EVERY_SECONDS = 600.0  # how often (engine clock) a flush also deletes expired events


@dataclass(slots=True)
class LogLine:
    timestamp: float  # epoch seconds
    message: str


def log_group_for_cluster(cluster_arn_or_name: str) -> str:
    return f"/aws/containerinsights/{cluster_arn_or_name.rsplit('/', 1)[-1]}/application"


def log_stream_name(node_name: str, pod_name: str, namespace: str, container: str) -> str:
    return f"{node_name}-application.var.log.containers.{pod_name}_{namespace}_{container}.log"


def dropped_marker(limit_bytes: int, what: str) -> str:
    return f"[batch-eks local] log output over {limit_bytes} bytes ({what}) dropped for this container"


def split_message(line: str, max_bytes: int = MAX_EVENT_BYTES) -> list[str]:
    """``line`` cut into pieces of at most ``max_bytes`` UTF-8 bytes, never inside a character."""
    if len(line) <= max_bytes // 4 or len(line.encode("utf-8", "replace")) <= max_bytes:
        return [line]
    data, pieces, start = line.encode("utf-8", "replace"), [], 0
    while start < len(data):
        end = min(start + max_bytes, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # back off to a character boundary
            end -= 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    return pieces


def _prefix_within(lines: list[str], room: int) -> tuple[list[str], int]:
    """The first lines whose bytes fit in ``room``, and those bytes."""
    kept, used = [], 0
    for line in lines:
        size = len(line.encode("utf-8", "replace"))
        if used + size > room:
            break
        kept.append(line)
        used += size
    return kept, used


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
        max_bytes_per_container: int = DEFAULT_MAX_BYTES_PER_CONTAINER,
        max_bytes_total: int = DEFAULT_MAX_BYTES_TOTAL,
    ) -> None:
        self.store = store
        self.max_bytes_per_container = max_bytes_per_container
        self.max_bytes_total = max_bytes_total
        self._bytes: dict[tuple[str, str], int] = {}  # (pod, container) -> bytes kept of its output
        self._dropped: set[tuple[str, str]] = set()  # containers whose output is being dropped
        self.total_bytes = store.stored_log_bytes()
        self.clock = clock
        self.max_lines_per_container = max_lines_per_container
        self.retention_seconds = retention_seconds
        self.lines: dict[tuple[str, str], list[LogLine]] = {}  # (pod, container) -> its last lines
        self._containers: dict[str, set[str]] = {}  # pod -> containers that printed or are followed
        self._pending: list[tuple[str, str, int, list[str]]] = []  # (group, stream, ms, lines) per chunk
        self._pending_events = 0
        self._waiters: dict[tuple[str, str], asyncio.Event] = {}
        self._next_expiry = clock.now()

    def append(self, pod_name: str, container: str, text: str, *, group: str, stream: str) -> None:
        """Store a container's output: ``text`` is one line or several joined by ``\n`` (a chunk as read)."""
        key = (pod_name, container)
        if key in self._dropped:
            return
        lines = text.split("\n")
        # the bytes of the messages (newlines are not part of an event), as CloudWatch's storedBytes counts
        size = (len(text) if text.isascii() else len(text.encode("utf-8", "replace"))) - (len(lines) - 1)
        used = self._bytes.get(key, 0)
        container_room = self.max_bytes_per_container - used
        total_room = self.max_bytes_total - self.total_bytes
        if size > min(container_room, total_room):
            lines, size = _prefix_within(lines, max(0, min(container_room, total_room)))
            self._dropped.add(key)
            if container_room <= total_room:
                lines.append(dropped_marker(self.max_bytes_per_container, "the per-container log limit"))
            else:
                lines.append(dropped_marker(self.max_bytes_total, "the engine's total log limit"))
        self._bytes[key] = used + size
        self.total_bytes += size
        if any(len(line) > MAX_EVENT_BYTES // 4 for line in lines):
            lines = [piece for line in lines for piece in split_message(line)]
        now = self.clock.now()
        kept = self.lines.get(key)
        if kept is None:
            kept = self.lines[key] = []
            self._containers.setdefault(pod_name, set()).add(container)
        kept.extend(LogLine(now, line) for line in lines[-self.max_lines_per_container :])
        if len(kept) >= 2 * self.max_lines_per_container:  # trim in blocks: O(1) per line on average
            del kept[: len(kept) - self.max_lines_per_container]
        self._pending.append((group, stream, int(now * 1000), lines))
        self._pending_events += len(lines)
        if self._pending_events >= _FLUSH_EVERY_EVENTS:
            self.flush()
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
            self._bytes.pop((pod_name, container), None)
            self._dropped.discard((pod_name, container))
            event = self._waiters.pop((pod_name, container), None)
            if event is not None:
                event.set()

    def flush(self) -> None:
        """Write the pending CloudWatch events; now and then also delete the expired ones."""
        if self._pending:
            chunks, self._pending, self._pending_events = self._pending, [], 0
            self.store.append_log_chunks(chunks)
        now = self.clock.now()
        if now >= self._next_expiry:
            self._next_expiry = now + _EXPIRY_EVERY_SECONDS
            self.store.delete_log_events_before(int((now - self.retention_seconds) * 1000))
            self.total_bytes = self.store.stored_log_bytes()
