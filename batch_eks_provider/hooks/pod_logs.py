"""Reading pod logs: Container Insights log stream names, Fluent Bit records, and followed log streams that
resume where a timed-out stream stopped."""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any, Callable, Iterator

__all__ = [
    "MAX_SCANNED_LOG_STREAMS",
    "container_insights_log_group",
    "pod_stream_marker",
    "stream_container",
    "fluent_bit_message",
    "response_lines",
    "StreamPosition",
]

MAX_SCANNED_LOG_STREAMS = 10_000
"""Log streams looked at, newest first, to find a pod's streams when its node is not known."""
_STREAM_TAIL = re.compile(r"(.+?)(?:-[0-9a-f]{64})?\.log")


def container_insights_log_group(cluster_name: str) -> str:
    """The log group Fluent Bit (Container Insights) writes container output to."""
    return f"/aws/containerinsights/{cluster_name}/application"


def pod_stream_marker(pod_name: str, namespace: str) -> str:
    """What every log stream of one pod contains: ``.containers.<pod>_<namespace>_``."""
    return f".containers.{pod_name}_{namespace}_"


def stream_container(stream_name: str, marker: str) -> str | None:
    """The container of a Container Insights log stream ``…containers.<pod>_<ns>_<container>[-<id>].log``
    (``marker`` is ``.containers.<pod>_<ns>_``); ``None`` for a stream of another pod."""
    if marker not in stream_name:
        return None
    rest = stream_name.split(marker, 1)[1]
    match = _STREAM_TAIL.fullmatch(rest)
    return match.group(1) if match else rest


def fluent_bit_message(message: str) -> str:
    """Fluent Bit ships ``{"log": "...", "stream": ...}`` records; the engine ships plain lines. Take either."""
    if message.startswith("{"):
        try:
            record = json.loads(message)
        except ValueError:
            return message
        if isinstance(record, dict) and isinstance(record.get("log"), str):
            return record["log"].rstrip("\n")
    return message


def response_lines(response: Any) -> Iterator[str]:
    """The lines of a streamed HTTP response, decoded, as they arrive."""
    pending = b""
    for chunk in response.stream(amt=65536, decode_content=True):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


def _sortable(stamp: str) -> str:
    """An RFC 3339 UTC timestamp with its fraction padded to 9 digits (Kubernetes trims trailing zeros), so
    timestamps compare as strings."""
    if not stamp.endswith("Z"):
        return stamp
    base, _, fraction = stamp[:-1].partition(".")
    return f"{base}.{fraction.ljust(9, '0')}Z"


class StreamPosition:
    """The last timestamp yielded and how many lines carried it, so a reopened stream skips what was seen."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.stamp = ""
        self.count_at_stamp = 0
        self._skip_at_stamp = 0
        self._clock = clock
        self._last_line_at: float | None = None

    def seen(self, stamp: str) -> bool:
        """Record a line's RFC 3339 timestamp; False when an earlier stream already yielded it."""
        stamp = _sortable(stamp)
        if self.stamp and stamp < self.stamp:
            return False
        if stamp == self.stamp and self._skip_at_stamp > 0:
            self._skip_at_stamp -= 1
            return False
        if stamp == self.stamp:
            self.count_at_stamp += 1
        else:
            self.stamp, self.count_at_stamp, self._skip_at_stamp = stamp, 1, 0
        self._last_line_at = self._clock()
        return True

    def since_seconds(self, initial: int | None) -> int | None:
        """``sinceSeconds`` for the next stream: back to just before the last line yielded."""
        self._skip_at_stamp = self.count_at_stamp
        if self._last_line_at is None:
            return initial
        return math.ceil(self._clock() - self._last_line_at) + 1
