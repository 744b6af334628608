"""Container output, kept the way Fluent Bit ships it to CloudWatch Logs on EKS.

Every line a container prints is stored twice over: in memory per pod and container (what the
Kubernetes ``pods/{name}/log`` route serves while the pod exists) and as a CloudWatch log event in the
group ``/aws/containerinsights/<cluster>/application`` on the container's Container Insights stream, which
outlives the pod. The names, the records and the splitting of long lines are :mod:`.fluent_bit`'s.

Each line keeps the output stream it was written to, ``stdout`` or ``stderr``, as the container runtime
writes it into the node's log file: both streams go to the one pod log and the one CloudWatch stream, in the
order the runtime read them, and each record's ``stream`` says which it was (``source`` of
:meth:`LogStore.append`).

When the caller gives a container's Kubernetes metadata (:func:`~.fluent_bit.fluent_bit_kubernetes`), each
event's message is the JSON record Fluent Bit ships (:func:`~.fluent_bit.fluent_bit_record`). The records
are not stored: the store keeps each stream's metadata once and the lines themselves, and the CloudWatch API
renders the record of each event it serves. Without metadata a message is the bare line.

Both copies are bounded: a container keeps its last :data:`MAX_LINES_PER_CONTAINER` lines in memory (the
kubelet rotates container logs too), and CloudWatch events older than the retention period are deleted.
An event's message is at most :data:`~.fluent_bit.MAX_EVENT_BYTES` (CloudWatch's 256 KiB event limit less
the 26 bytes it counts per event): a longer line (or, for records, a line whose record would be longer) is
split into several events (:func:`~.fluent_bit.split_message`), as Fluent Bit does. A container's output
past ``max_bytes_per_container``, and any output once the stored total reaches ``max_bytes_total`` (both
count the printed bytes), is dropped with one marker line (:func:`dropped_marker`) per container.

Output never makes the event loop wait for the disk: chunks go to the store's writer thread, and while
the writer is more than :data:`BACKLOG_HIGH_BYTES` behind, :func:`output_backpressure` tells the readers of
container pipes on this loop to stop reading (the containers then block on their full pipes, as
with any slow reader) until it is back under :data:`BACKLOG_LOW_BYTES`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..clock import Clock
from .fluent_bit import MAX_EVENT_BYTES, escaped_bytes, has_escapes, record_overhead, split_message
from .sqlite import MAX_CHUNK_EVENTS, Store

__all__ = [
    "LogLine",
    "ContainerLines",
    "LogStore",
    "OutputBackpressure",
    "output_backpressure",
    "MAX_LINES_PER_CONTAINER",
    "LOG_RETENTION_SECONDS",
    "DEFAULT_MAX_BYTES_PER_CONTAINER",
    "DEFAULT_MAX_BYTES_TOTAL",
    "BACKLOG_HIGH_BYTES",
    "BACKLOG_LOW_BYTES",
    "dropped_marker",
]

MAX_LINES_PER_CONTAINER = 10_000
DEFAULT_MAX_BYTES_PER_CONTAINER = 100 * 1024 * 1024
DEFAULT_MAX_BYTES_TOTAL = 1024 * 1024 * 1024
BACKLOG_HIGH_BYTES = 8 << 20  # output handed to the writer and not written: readers pause above this
BACKLOG_LOW_BYTES = 2 << 20  # ... and read again below this
_FLUSH_BYTES = 1 << 20  # pending output this large is handed to the writer at once
_MERGE_BYTES = 64 << 10  # consecutive small chunks of one stream and source at one time become one row
LOG_RETENTION_SECONDS = 7 * 24 * 3600  # as long as Batch keeps a finished job
_EXPIRY_EVERY_SECONDS = 600.0  # how often (engine clock) a flush also deletes expired events


@dataclass(slots=True)
class LogLine:
    timestamp: float  # epoch seconds
    message: str
    source: str = "stdout"  # the output stream it was written to: stdout or stderr


class ContainerLines(Sequence):
    """A container's last lines: a sequence of :class:`LogLine`, kept as blocks ``(timestamp, texts, source)``
    (one per chunk read) and made into ``LogLine`` objects only when read. A chatty job would otherwise create
    an object the garbage collector tracks for every line, and its full collections (100-150 ms with a
    million lines) would stall the event loop."""

    __slots__ = ("_blocks", "_starts", "_len")

    def __init__(self) -> None:
        self._blocks: list[tuple[float, list[str], str]] = []
        self._starts: list[int] = []  # index of each block's first line
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def add(self, timestamp: float, texts: list[str], source: str = "stdout") -> None:
        if texts:
            self._starts.append(self._len)
            self._blocks.append((timestamp, texts, source))
            self._len += len(texts)

    def keep_last(self, count: int) -> None:
        """Drop all but the last ``count`` lines."""
        drop = self._len - count
        if drop <= 0:
            return
        first = bisect_right(self._starts, drop) - 1
        ts, texts, source = self._blocks[first]
        blocks = [(ts, texts[drop - self._starts[first] :], source)] + self._blocks[first + 1 :]
        self._blocks, self._starts, self._len = [], [], 0
        for ts, texts, source in blocks:
            self.add(ts, texts, source)

    def _line(self, index: int) -> LogLine:
        block = bisect_right(self._starts, index) - 1
        ts, texts, source = self._blocks[block]
        return LogLine(ts, texts[index - self._starts[block]], source)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self._line(i) for i in range(*index.indices(self._len))]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError("container line index out of range")
        return self._line(index)

    def __iter__(self):
        for ts, texts, source in self._blocks:
            for text in texts:
                yield LogLine(ts, text, source)


def dropped_marker(limit_bytes: int, what: str) -> str:
    return f"[batch-eks local] log output over {limit_bytes} bytes ({what}) dropped for this container"


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def _prefix_within(lines: list[str], room: int) -> tuple[list[str], int]:
    """The first lines whose bytes fit in ``room``, and those bytes."""
    kept, used = [], 0
    for line in lines:
        size = _utf8_len(line)
        if used + size > room:
            break
        kept.append(line)
        used += size
    return kept, used


# -- backpressure ---------------------------------------------------------------------------------------------
class OutputBackpressure:
    """Whether the readers of container output on one event loop should stop reading for now."""

    def __init__(self) -> None:
        self.behind = False
        self._resume: list[Callable[[], None]] = []

    def hold(self) -> None:
        self.behind = True

    def release(self) -> None:
        self.behind = False
        resume, self._resume = self._resume, []
        for callback in resume:
            callback()

    def when_released(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the loop) once readers may read again; at once when they may."""
        if self.behind:
            self._resume.append(callback)
        else:
            callback()


_BACKPRESSURE: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OutputBackpressure]" = weakref.WeakKeyDictionary()


def output_backpressure(loop: asyncio.AbstractEventLoop) -> OutputBackpressure:
    """The backpressure of one event loop: its log stores hold it, its pipe readers obey it."""
    gate = _BACKPRESSURE.get(loop)
    if gate is None:
        gate = _BACKPRESSURE[loop] = OutputBackpressure()
    return gate


# -- the store ------------------------------------------------------------------------------------------------
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
        backlog_bytes: tuple[int, int] = (BACKLOG_HIGH_BYTES, BACKLOG_LOW_BYTES),
    ) -> None:
        self.store = store
        self.backlog_high, self.backlog_low = backlog_bytes  # readers pause above high, resume below low
        self._flush_bytes = min(_FLUSH_BYTES, max(1, self.backlog_high // 4))
        self.max_bytes_per_container = max_bytes_per_container
        self.max_bytes_total = max_bytes_total
        self._bytes: dict[tuple[str, str], int] = {}  # (pod, container) -> bytes kept of its output
        self._dropped: set[tuple[str, str]] = set()  # containers whose output is being dropped
        self.total_bytes = store.stored_log_bytes()
        self.clock = clock
        self.max_lines_per_container = max_lines_per_container
        self.retention_seconds = retention_seconds
        self.lines: dict[tuple[str, str], ContainerLines] = {}  # (pod, container) -> its last lines
        self._containers: dict[str, set[str]] = {}  # pod -> containers that printed or are followed
        self._pending: list[list[Any]] = []  # chunks in the store's form, not handed over yet
        self._pending_bytes = 0
        self._records: dict[tuple[str, str], tuple[str, int]] = {}  # stream -> (kubernetes JSON, overhead)
        self._waiters: dict[tuple[str, str], asyncio.Event] = {}
        self._next_expiry = clock.now()
        self._expiring = None  # the retention sweep handed to the writer, until its result is taken
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate: OutputBackpressure | None = None
        store.on_log_written = self._written

    def append(
        self,
        pod_name: str,
        container: str,
        text: str,
        *,
        source: str = "stdout",
        group: str,
        stream: str,
        kubernetes: Mapping[str, Any] | None = None,
    ) -> None:
        """Store a container's output: ``text`` is one line or several joined by ``\n`` (a chunk as read),
        written to ``source``, ``stdout`` or ``stderr``. With ``kubernetes``
        (:func:`.fluent_bit_kubernetes`, used from the stream's first output on) the stream's events are
        Fluent Bit records."""
        key = (pod_name, container)
        if key in self._dropped:
            return
        self._watch_loop()
        lines = text.split("\n")
        # the bytes of the messages (newlines are not part of an event), as CloudWatch's storedBytes counts
        size = _utf8_len(text) - (len(lines) - 1)
        used = self._bytes.get(key, 0)
        container_room = self.max_bytes_per_container - used
        total_room = self.max_bytes_total - self.total_bytes
        cut = size > min(container_room, total_room)
        if cut:
            lines, size = _prefix_within(lines, max(0, min(container_room, total_room)))
            self._dropped.add(key)
            if container_room <= total_room:
                lines.append(dropped_marker(self.max_bytes_per_container, "the per-container log limit"))
            else:
                lines.append(dropped_marker(self.max_bytes_total, "the engine's total log limit"))
        self._bytes[key] = used + size
        self.total_bytes += size
        record = self._record_of(group, stream, kubernetes)
        budget = MAX_EVENT_BYTES - record[1] - 2 if record else MAX_EVENT_BYTES
        partial: list[int] = []
        if len(text) > budget // 6 and max(map(len, lines)) > budget // 6:
            pieces: list[str] = []
            for line in lines:
                split = split_message(line, budget, escaped=record is not None)
                partial.extend(range(len(pieces), len(pieces) + len(split) - 1))
                pieces.extend(split)
            if len(pieces) != len(lines):
                lines, cut = pieces, True
        now = self.clock.now()
        kept = self.lines.get(key)
        if kept is None:
            kept = self.lines[key] = ContainerLines()
            self._containers.setdefault(pod_name, set()).add(container)
        most = self.max_lines_per_container
        kept.add(now, lines[-most:] if len(lines) > most else lines, source)
        if len(kept) >= 2 * self.max_lines_per_container:  # trim in blocks: O(1) per line on average
            kept.keep_last(self.max_lines_per_container)
        self._queue_chunks(
            group, stream, int(now * 1000), lines, None if cut else text, partial, record, source
        )
        waiter = self._waiters.get(key)
        if waiter is not None:
            waiter.set()

    def _record_of(self, group: str, stream: str, kubernetes: Mapping[str, Any] | None) -> tuple[str, int] | None:
        record = self._records.get((group, stream))
        if record is None and kubernetes is not None:
            meta = json.dumps(dict(kubernetes), ensure_ascii=False, separators=(",", ":"))
            record = self._records[(group, stream)] = (meta, record_overhead(meta))
        return record

    def _queue_chunks(
        self, group: str, stream: str, ts: int, lines: list[str], text: str | None, partial: list[int],
        record: tuple[str, int] | None, source: str,
    ) -> None:  # fmt: skip
        """Pending chunks of at most :data:`MAX_CHUNK_EVENTS` events; ``text`` is the lines joined, if at
        hand. A chunk holds lines of one output stream (``source``): NULL for stdout, else its name."""
        stored_source = None if source == "stdout" else source
        for start in range(0, len(lines), MAX_CHUNK_EVENTS):
            part = lines[start : start + MAX_CHUNK_EVENTS]
            body = text if text is not None and len(part) == len(lines) else "\n".join(part)
            marks = [i - start for i in partial if start <= i < start + len(part)]
            events = len(part)
            output = _utf8_len(body) - (events - 1)
            if record is None:
                stored = output
            else:  # each event's record: the overhead, the escaped line, and its escaped newline if whole
                escaped = escaped_bytes(body) if has_escapes(body) else output + 2 * (events - 1)
                stored = events * record[1] + escaped - 2 * (events - 1) + 2 * (events - len(marks))
            last = self._pending[-1] if self._pending else None
            if (
                last is not None and last[0] == group and last[1] == stream and last[2] == ts
                and last[9] == stored_source and not marks and last[7] is None
                and len(last[3]) + len(body) < _MERGE_BYTES and last[4] + events <= MAX_CHUNK_EVENTS
            ):  # fmt: skip
                last[3] = last[3] + "\n" + body
                last[4] += events
                last[5] += stored
                last[6] += output
            else:
                self._pending.append(
                    [group, stream, ts, body, events, stored, output, json.dumps(marks) if marks else None,
                     record[0] if record else None, stored_source]
                )  # fmt: skip
            self._pending_bytes += len(body)
        if self._pending_bytes >= self._flush_bytes:
            self.flush()

    @property
    def backlog_bytes(self) -> int:
        """Output not yet written to SQLite: pending here and handed to the writer."""
        return self._pending_bytes + self.store.log_backlog_bytes

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
        for stream in [k for k in self._records if f".containers.{pod_name}_" in k[1]]:
            del self._records[stream]

    def flush(self) -> None:
        """Hand the pending CloudWatch events to the writer (never waiting for it); now and then also the
        deletion of the expired ones."""
        if self._pending:
            chunks, self._pending, self._pending_bytes = self._pending, [], 0
            self.store.append_log_chunks([tuple(c) for c in chunks])
            if self._gate is not None and self.store.log_backlog_bytes >= self.backlog_high:
                self._gate.hold()
        if self._expiring is not None and self._expiring.done():
            _, output_bytes = self._expiring.result()
            self.total_bytes = max(0, self.total_bytes - output_bytes)
            self._expiring = None
        now = self.clock.now()
        if now >= self._next_expiry and self._expiring is None:
            self._next_expiry = now + _EXPIRY_EVERY_SECONDS
            self._expiring = self.store.delete_log_events_before(int((now - self.retention_seconds) * 1000))
            if self._expiring.done():  # no writer thread: done already
                self.flush()

    # -- backpressure ------------------------------------------------------------------------------------------
    def _watch_loop(self) -> None:
        if self._loop is None:
            with contextlib.suppress(RuntimeError):  # no running loop (a store used on its own): no readers
                self._loop = asyncio.get_running_loop()
                self._gate = output_backpressure(self._loop)

    def _written(self) -> None:
        """On the writer thread, after each write: let the readers read again once the backlog is low."""
        if self._gate is not None and self._gate.behind and self.store.log_backlog_bytes < self.backlog_low:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the engine has stopped
                self._loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        if self._gate is not None and self.store.log_backlog_bytes < self.backlog_low:
            self._gate.release()
