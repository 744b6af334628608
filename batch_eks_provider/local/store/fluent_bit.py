"""Container output as Fluent Bit ships it to CloudWatch Logs on EKS (Container Insights): the names of
the log group and streams, a container's id, the JSON record of each line, and lines cut to CloudWatch's
event size.

The group is ``/aws/containerinsights/<cluster>/application`` (:func:`log_group_for_cluster`); a
container's stream is named after its log file on the node,
``<node>-application.var.log.containers.<pod>_<namespace>_<container>-<64-hex container id>.log``
(:func:`log_stream_name`, :func:`container_id`). Each event's message is the record Fluent Bit ships
(:func:`fluent_bit_record`): ``log`` (the line and its newline), ``stream`` (``stdout`` or ``stderr``: the
container's output stream the line was written to, as the container runtime records it in the node's log
file), ``time`` (:func:`record_time`) and the ``kubernetes`` map of its kubernetes filter
(:func:`fluent_bit_kubernetes`). An event is at most
:data:`MAX_EVENT_BYTES`; a longer line (or a line whose record would be longer) is cut into pieces
(:func:`split_message`), and a piece that is not the line's end has no newline in its ``log``.

:class:`~.logs.LogStore` stores the lines and each stream's ``kubernetes`` map once; the CloudWatch API
(:mod:`~batch_eks_provider.local.service.log_events`) renders the record of each event it serves.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from typing import Any, Mapping

__all__ = [
    "MAX_EVENT_BYTES",
    "OUTPUT_STREAMS",
    "log_group_for_cluster",
    "container_id",
    "log_stream_name",
    "fluent_bit_kubernetes",
    "record_time",
    "fluent_bit_record",
    "record_overhead",
    "escaped_bytes",
    "has_escapes",
    "split_message",
]

MAX_EVENT_BYTES = 256 * 1024 - 26  # CloudWatch: 256 KiB per event, counting 26 bytes of overhead
OUTPUT_STREAMS = ("stdout", "stderr")  # a record's ``stream``; both 6 bytes, so a record's size is the same
_ESCAPED = re.compile(r'[\x00-\x09\x0b-\x1f"\\]')  # what JSON escapes, but the \n between a chunk's lines


# -- names ----------------------------------------------------------------------------------------------------
def log_group_for_cluster(cluster_arn_or_name: str) -> str:
    return f"/aws/containerinsights/{cluster_arn_or_name.rsplit('/', 1)[-1]}/application"


def container_id(pod_name: str, container: str) -> str:
    """The 64-hex id of one container of one pod (a pod is one attempt; its containers never restart):
    the same wherever it is asked for, so the Kubernetes API's ``containerID``
    (``containerd://<id>``), the Fluent Bit record's ``docker_id`` and the log stream name agree."""
    return hashlib.sha256(f"{pod_name}/{container}".encode()).hexdigest()


def log_stream_name(
    node_name: str, pod_name: str, namespace: str, container: str, container_id: str | None = None
) -> str:
    """Container Insights' stream name: ``<node>-application.var.log.containers.<pod>_<ns>_<container>-<id>.log``
    (the file name of the container's log on the node). Without ``container_id`` the name has no id (the
    engine's names before Fluent Bit records; ``container=""`` then gives the pod's prefix plus ``.log``)."""
    suffix = f"-{container_id}" if container_id else ""
    return f"{node_name}-application.var.log.containers.{pod_name}_{namespace}_{container}{suffix}.log"


# -- Fluent Bit records ----------------------------------------------------------------------------------------
def fluent_bit_kubernetes(
    *,
    pod_name: str,
    namespace: str,
    pod_id: str,
    host: str,
    container_name: str,
    container_id: str,
    container_image: str,
    labels: Mapping[str, str] | None = None,
    container_hash: str | None = None,
) -> dict[str, Any]:
    """The ``kubernetes`` map of Fluent Bit's kubernetes filter, keys in its order (``labels`` only when the
    pod has some; ``container_hash`` is the image id the kubelet reports, the image when none is given)."""
    meta: dict[str, Any] = {"pod_name": pod_name, "namespace_name": namespace, "pod_id": pod_id}
    if labels:
        meta["labels"] = dict(labels)
    meta.update(
        host=host,
        container_name=container_name,
        docker_id=container_id,
        container_hash=container_hash or container_image,
        container_image=container_image,
    )
    return meta


def record_time(timestamp_ms: int) -> str:
    """A record's ``time``: RFC 3339 with nanoseconds, as the container runtime writes it."""
    seconds, ms = divmod(timestamp_ms, 1000)
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}000000Z"


def fluent_bit_record(
    line: str, time: str, kubernetes_json: str, *, partial: bool = False, source: str = "stdout"
) -> str:
    """The JSON record Fluent Bit ships for one line (``time`` from :func:`record_time`, the
    ``kubernetes`` map as JSON text, ``source`` the output stream it was written to: one of
    :data:`OUTPUT_STREAMS`); a ``partial`` piece of a split line has no newline."""
    text = json.dumps(line if partial else line + "\n", ensure_ascii=False)
    return f'{{"log":{text},"stream":"{source}","time":"{time}","kubernetes":{kubernetes_json}}}'


def record_overhead(kubernetes_json: str) -> int:
    """The bytes of a record around an empty, partial ``log`` (the same for both :data:`OUTPUT_STREAMS`)."""
    return len(fluent_bit_record("", record_time(0), kubernetes_json, partial=True).encode())


def escaped_bytes(text: str) -> int:
    """The UTF-8 bytes of ``text`` inside a JSON string (Python's escaping, non-ASCII kept)."""
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


def _char_bytes(ch: str) -> int:
    code = ord(ch)
    if ch in '"\\' or ch in "\b\f\n\r\t":
        return 2
    if code < 0x20:
        return 6
    return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4


def has_escapes(text: str) -> bool:
    """Whether JSON escapes a character of ``text`` other than ``\\n`` (the newlines between
    a chunk's lines)."""
    return _ESCAPED.search(text) is not None


def split_message(line: str, max_bytes: int = MAX_EVENT_BYTES, *, escaped: bool = False) -> list[str]:
    """``line`` cut into pieces of at most ``max_bytes`` UTF-8 bytes (counted inside a JSON string when
    ``escaped``), never inside a character."""
    if len(line) <= max_bytes // 6:
        return [line]
    if escaped and has_escapes(line):
        if escaped_bytes(line) <= max_bytes:
            return [line]
        pieces, start, used = [], 0, 0
        for i, ch in enumerate(line):
            size = _char_bytes(ch)
            if used + size > max_bytes:
                pieces.append(line[start:i])
                start, used = i, 0
            used += size
        pieces.append(line[start:])
        return pieces
    data = line.encode("utf-8", "replace")
    if len(data) <= max_bytes:
        return [line]
    pieces, start = [], 0
    while start < len(data):
        end = min(start + max_bytes, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # back off to a character boundary
            end -= 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    return pieces
