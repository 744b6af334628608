"""CloudWatch Logs, as Fluent Bit fills it on EKS: the query side of the engine's container output.

Container output is written by :class:`~batch_eks_provider.local.store.logs.LogStore` into SQLite (one event per
line, lines over 256 KiB split as Fluent Bit does, group ``/aws/containerinsights/<cluster>/application``, a
stream per pod container), in chunks of events that share a timestamp. This module answers
DescribeLogGroups, DescribeLogStreams, GetLogEvents and FilterLogEvents over those chunks with the
service's rules: which groups exist, stream ordering, ``f/``/``b/`` tokens of GetLogEvents and opaque
``nextToken`` pagination. An event of a stream with Kubernetes metadata is served as the JSON record
Fluent Bit ships (:func:`~batch_eks_provider.local.store.fluent_bit.fluent_bit_record`), rendered here, its
``stream`` the output stream the line was written to (stdout or stderr: a container's one CloudWatch stream
holds both, in the order they were read); filter patterns match that record's text, as CloudWatch matches the
message it stores.

FilterLogEvents looks at no more than :data:`FILTER_SCAN_EVENTS` events per call; when it stops there
it answers the events found so far and a ``nextToken`` (CloudWatch too may answer few or no events with a
token), so one call never holds the engine up for long.

Every function takes the engine and the request's parameters (wire names) and returns the wire response.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from ..errors import InvalidParameterException, ResourceNotFoundException
from ..store.fluent_bit import fluent_bit_record, log_group_for_cluster, record_time

__all__ = [
    "describe_log_groups",
    "describe_log_streams",
    "get_log_events",
    "filter_log_events",
    "known_log_groups",
    "parse_filter_pattern",
]

DESCRIBE_LIMIT = 50
EVENTS_LIMIT = 10000
FILTER_SCAN_EVENTS = 200_000
_CURSOR_DIGITS = 20


# -- helpers ---------------------------------------------------------------------------------------------
def _limit(params: dict[str, Any], default: int, maximum: int) -> int:
    value = params.get("limit")
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise InvalidParameterException(
            f"1 validation error detected: Value '{value}' at 'limit' failed to satisfy constraint: "
            f"Member must have value between 1 and {maximum}."
        )
    return value


def _encode_token(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _decode_token(token: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if isinstance(data, dict):
            return data
    except (ValueError, RecursionError):
        pass
    raise InvalidParameterException(f"The specified nextToken is invalid: {token[:200]!r}.")


def _token_int(token: str, data: dict[str, Any], key: str, default: int | None = None) -> int:
    """An integer member of a decoded token, in the int64 range and not negative."""
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise InvalidParameterException(
            f"The specified nextToken is invalid: {token[:200]!r} ({key!r} must be a non-negative integer)."
        )
    return value


def _offset(params: dict[str, Any]) -> int:
    token = params.get("nextToken")
    return _token_int(token, _decode_token(token), "offset", 0) if token else 0


def _cluster_log_groups(engine: Any) -> dict[str, int]:
    """Log group name -> creation time (ms) of the group of every cluster a CE names."""
    groups: dict[str, int] = {}
    for ce in engine.state.compute_environments.values():
        if ce.cluster_arn:
            name = log_group_for_cluster(ce.cluster_arn)
            created = int(ce.created_at * 1000)
            groups[name] = min(groups.get(name, created), created)
    return groups


def known_log_groups(engine: Any) -> dict[str, int]:
    """Log group name -> creation time (ms): the groups of every cluster a CE names, and any with events."""
    groups = _cluster_log_groups(engine)
    for name, first_ingestion, _ in engine.store.log_groups():
        groups.setdefault(name, first_ingestion)
    return groups


def _group_name(engine: Any, params: dict[str, Any]) -> str:
    """The group a request names (``logGroupName`` or ``logGroupIdentifier``, a name or an ARN); it must exist."""
    name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
    if name and identifier:
        raise InvalidParameterException("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if not name and not identifier:
        raise InvalidParameterException("Either logGroupName or logGroupIdentifier must be specified.")
    if identifier:
        name = identifier.split(":log-group:", 1)[1] if ":log-group:" in identifier else identifier
        name = name[:-2] if name.endswith(":*") else name
    engine.logs.flush()  # lines printed since the last scheduler pass are visible at once
    if not engine.store.log_events_exist(name) and name not in _cluster_log_groups(engine):
        raise ResourceNotFoundException("The specified log group does not exist.")
    return name


def _arn(engine: Any, group: str, stream: str | None = None) -> str:
    cfg = engine.state.config
    base = f"arn:aws:logs:{cfg.region}:{cfg.account_id}:log-group:{group}"
    return f"{base}:log-stream:{stream}" if stream is not None else f"{base}:*"


# -- DescribeLogGroups ---------------------------------------------------------------------------------------
def describe_log_groups(engine: Any, params: dict[str, Any]) -> dict[str, Any]:
    limit = _limit(params, DESCRIBE_LIMIT, DESCRIBE_LIMIT)
    prefix, pattern = params.get("logGroupNamePrefix"), params.get("logGroupNamePattern")
    if prefix and pattern:
        raise InvalidParameterException(
            "logGroupNamePrefix and logGroupNamePattern are mutually exclusive parameters."
        )
    engine.logs.flush()
    sizes = {name: stored for name, _, stored in engine.store.log_groups()}
    names = sorted(known_log_groups(engine).items())
    if prefix:
        names = [(n, c) for n, c in names if n.startswith(prefix)]
    if pattern:
        names = [(n, c) for n, c in names if pattern.lower() in n.lower()]
    start = _offset(params)
    page = names[start : start + limit]
    groups = [
        {
            "logGroupName": name,
            "creationTime": created,
            "metricFilterCount": 0,
            "arn": _arn(engine, name),
            "storedBytes": int(sizes.get(name) or 0),
            "logGroupClass": "STANDARD",
            "logGroupArn": _arn(engine, name)[:-2],
        }
        for name, created in page
    ]
    body: dict[str, Any] = {"logGroups": groups}
    if start + limit < len(names):
        body["nextToken"] = _encode_token({"offset": start + limit})
    return body


# -- DescribeLogStreams --------------------------------------------------------------------------------------
def describe_log_streams(engine: Any, params: dict[str, Any]) -> dict[str, Any]:
    group = _group_name(engine, params)
    limit = _limit(params, DESCRIBE_LIMIT, DESCRIBE_LIMIT)
    order_by = params.get("orderBy", "LogStreamName")
    if order_by not in ("LogStreamName", "LastEventTime"):
        raise InvalidParameterException(
            f"1 validation error detected: Value '{order_by}' at 'orderBy' failed to satisfy constraint: "
            "Member must satisfy enum value set: [LogStreamName, LastEventTime]"
        )
    prefix = params.get("logStreamNamePrefix")
    if prefix and order_by == "LastEventTime":
        raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
    rows = engine.store.log_streams(group)
    if prefix:
        rows = [r for r in rows if r[0].startswith(prefix)]
    descending = bool(params.get("descending", False))
    if order_by == "LogStreamName":
        rows.sort(key=lambda r: r[0], reverse=descending)
    else:
        rows.sort(key=lambda r: (r[3], r[0]), reverse=descending)
    start = _offset(params)
    page = rows[start : start + limit]
    streams = [
        {
            "logStreamName": stream,
            "creationTime": created,
            "firstEventTimestamp": first,
            "lastEventTimestamp": last,
            "lastIngestionTime": ingested,
            "arn": _arn(engine, group, stream),
            "storedBytes": 0,  # deprecated by CloudWatch Logs: always 0
        }
        for stream, created, first, last, ingested, _ in page
    ]
    body: dict[str, Any] = {"logStreams": streams}
    if start + limit < len(rows):
        body["nextToken"] = _encode_token({"offset": start + limit})
    return body


# -- GetLogEvents ---------------------------------------------------------------------------------------------
def _cursor_token(direction: str, timestamp: int, rowid: int) -> str:
    return f"{direction}/{timestamp:0{_CURSOR_DIGITS}d}{rowid:0{_CURSOR_DIGITS}d}"


def _parse_cursor_token(token: str) -> tuple[str, int, int]:
    match = re.fullmatch(rf"([fb])/(\d{{{_CURSOR_DIGITS}}})(\d{{{_CURSOR_DIGITS}}})", token)
    if match is None or int(match.group(2)) >= 2**63 or int(match.group(3)) >= 2**63:
        raise InvalidParameterException(f"The specified nextToken is invalid: {token[:200]!r}.")
    return match.group(1), int(match.group(2)), int(match.group(3))


def _time_range(params: dict[str, Any]) -> tuple[int | None, int | None]:
    start, end = params.get("startTime"), params.get("endTime")
    return (int(start) if start is not None else None, int(end) if end is not None else None)


_Chunk = tuple  # (last_seq, events, stream, timestamp ms, partial, text, kubernetes, source): the store's


def _chunk_events(chunk: _Chunk) -> list[tuple[int, str, int, str]]:
    """A chunk's events as ``(seq, stream, timestamp, message)``: the lines, or their Fluent Bit records."""
    last, count, stream, ts, partial, text, kubernetes, source = chunk
    lines = text.split("\n")
    first = last - count + 1
    if kubernetes is None:
        return [(first + i, stream, ts, line) for i, line in enumerate(lines)]
    time, pieces = record_time(ts), set(json.loads(partial)) if partial else ()
    return [
        (first + i, stream, ts, fluent_bit_record(line, time, kubernetes, partial=i in pieces, source=source))
        for i, line in enumerate(lines)
    ]


def get_log_events(engine: Any, params: dict[str, Any]) -> dict[str, Any]:
    group = _group_name(engine, params)
    stream = params.get("logStreamName")
    if not stream:
        raise InvalidParameterException(
            "1 validation error detected: Value null at 'logStreamName' failed to satisfy constraint: Member must not be null"
        )
    if not engine.store.log_events_exist(group, stream):
        raise ResourceNotFoundException("The specified log stream does not exist.")
    limit = _limit(params, EVENTS_LIMIT, EVENTS_LIMIT)
    start_ms, end_ms = _time_range(params)
    token = params.get("nextToken")
    if token:
        direction, ts, rowid = _parse_cursor_token(token)
    else:
        direction, ts, rowid = ("f", -1, -1) if params.get("startFromHead") else ("b", 2**62, 2**62)
    rows: list[tuple[int, str, int, str]] = []
    if direction == "f":  # seq (ingestion) order is time order
        for chunk in engine.store.stream_chunks(group, stream, after=rowid, start_ms=start_ms, end_ms=end_ms):
            rows += [e for e in _chunk_events(chunk) if e[0] > rowid][: limit - len(rows)]
            if len(rows) >= limit:
                break
    else:
        for chunk in engine.store.stream_chunks(
            group, stream, before=rowid, start_ms=start_ms, end_ms=end_ms, descending=True
        ):
            earlier = [e for e in _chunk_events(chunk) if e[0] < rowid]
            rows[:0] = earlier[max(0, len(earlier) - (limit - len(rows))) :]
            if len(rows) >= limit:
                break
    events = [{"timestamp": r[2], "message": r[3], "ingestionTime": r[2]} for r in rows]
    if rows:
        forward = _cursor_token("f", rows[-1][2], rows[-1][0])
        backward = _cursor_token("b", rows[0][2], rows[0][0])
    else:
        # nothing there: hand back the position asked for, so a reader sees the same token and stops
        position = (max(ts, 0), max(rowid, 0)) if ts < 2**62 else (0, 0)
        forward = token if token and direction == "f" else _cursor_token("f", *position)
        backward = token if token and direction == "b" else _cursor_token("b", *position)
    return {"events": events, "nextForwardToken": forward, "nextBackwardToken": backward}


# -- FilterLogEvents ------------------------------------------------------------------------------------------
def parse_filter_pattern(pattern: str | None) -> tuple[list[str], list[str], list[str]]:
    """Split a term filter pattern into (terms that must all appear, ``?terms`` of which one must appear,
    ``-terms`` that must not appear). Quoted phrases are one term. Matching is case-sensitive, as in
    CloudWatch Logs. JSON (``{...}``) and space-delimited (``[...]``) patterns are not supported."""
    required: list[str] = []
    any_of: list[str] = []
    excluded: list[str] = []
    text = (pattern or "").strip()
    if not text:
        return required, any_of, excluded
    if text.startswith("{") or text.startswith("["):
        raise InvalidParameterException(
            f"Invalid filter pattern {pattern!r}: the local engine supports term patterns only "
            '(words, "quoted phrases", ?optional and -excluded terms), not JSON or space-delimited patterns.'
        )
    for match in re.finditer(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))', text):
        sign, quoted, bare = match.group(1), match.group(2), match.group(3)
        term = quoted.replace('\\"', '"') if quoted is not None else bare
        if not term:
            continue
        {"": required, "?": any_of, "-": excluded}[sign].append(term)
    return required, any_of, excluded


def _chunk_may_match(chunk: _Chunk, required: list[str], any_of: list[str]) -> bool:
    """False when no event of the chunk can match: a term that holds no ``"`` is in an event's record only
    if it is in the record's fixed parts or in the chunk's lines escaped as JSON (a necessary test, done
    on the whole chunk at once)."""
    _, _, _, ts, _, text, kubernetes, source = chunk
    if kubernetes is None:
        return True  # plain lines: the store tested the text already
    envelope = fluent_bit_record("", record_time(ts), kubernetes, source=source)
    escaped = None

    def may_hold(term: str) -> bool:
        nonlocal escaped
        if '"' in term or term in envelope:
            return True
        if escaped is None:
            escaped = json.dumps(text + "\n", ensure_ascii=False)
        return term in escaped

    return all(may_hold(t) for t in required) and (not any_of or any(may_hold(t) for t in any_of))


def filter_log_events(engine: Any, params: dict[str, Any]) -> dict[str, Any]:
    group = _group_name(engine, params)
    names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
    if names and prefix:
        raise InvalidParameterException(
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters."
        )
    limit = _limit(params, EVENTS_LIMIT, EVENTS_LIMIT)
    start_ms, end_ms = _time_range(params)
    clauses, values = ["log_group = ?"], [group]
    if names:
        clauses.append(f"log_stream IN ({', '.join('?' for _ in names)})")
        values.extend(names)
    if prefix:
        clauses.append("log_stream >= ? AND log_stream < ? AND substr(log_stream, 1, ?) = ?")
        values.extend([prefix, prefix + "\U0010ffff", len(prefix), prefix])
    required, any_of, excluded = parse_filter_pattern(params.get("filterPattern"))
    after = None
    if params.get("nextToken"):
        token = params["nextToken"]
        cursor = _decode_token(token)
        _token_int(token, cursor, "timestamp")
        after = _token_int(token, cursor, "rowid")  # seq (ingestion) order is time order
    chunks = engine.store.scan_chunks(  # a plain-line chunk without every required term has no match
        " AND ".join(clauses), tuple(values), after=after, start_ms=start_ms, end_ms=end_ms, text_terms=required
    )
    rows: list[tuple[int, str, int, str]] = []
    scanned, position, more = 0, None, False
    for chunk in chunks:
        if scanned >= FILTER_SCAN_EVENTS or len(rows) > limit:
            more = True
            break
        scanned += chunk[1]
        position = (chunk[3], chunk[0])
        if (required or any_of) and not _chunk_may_match(chunk, required, any_of):
            continue
        for event in _chunk_events(chunk):
            if after is not None and event[0] <= after:
                continue
            message = event[3]
            if (
                all(t in message for t in required)
                and (not any_of or any(t in message for t in any_of))
                and not any(t in message for t in excluded)
            ):
                rows.append(event)
    if len(rows) > limit:
        rows, more = rows[:limit], True
        position = (rows[-1][2], rows[-1][0])
    events = [
        {"logStreamName": r[1], "timestamp": r[2], "message": r[3], "ingestionTime": r[2], "eventId": f"{r[0]:056d}"}
        for r in rows
    ]
    body: dict[str, Any] = {"events": events, "searchedLogStreams": []}
    if more and position is not None:
        body["nextToken"] = _encode_token({"timestamp": position[0], "rowid": position[1]})
    return body
