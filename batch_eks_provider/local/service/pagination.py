"""Batch-style pagination and the describe-by-reference block the Describe* operations share.

``nextToken`` is the opaque (base64 JSON) position key of the last item a page returned, not an offset:
the next page starts after that key in the same stable order, so items that change status or disappear
between two calls never make a poller skip or repeat the items that are still there.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any, Callable, Sequence, TypeVar

from ..errors import ClientException

__all__ = ["paginate", "describe_resources", "check_reference_count", "encode_token", "decode_token"]

T = TypeVar("T")
PositionKey = Callable[[Any], tuple]


def encode_token(position: tuple) -> str:
    """The opaque ``nextToken`` for a position key (a tuple of JSON values)."""
    return base64.urlsafe_b64encode(json.dumps(list(position), separators=(",", ":")).encode()).decode()


def decode_token(token: str) -> tuple:
    """The position key inside a token this service returned; anything else is a ClientException."""
    shown = token if len(token) <= 200 else f"{token[:200]}... ({len(token)} characters)"
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        position = None
    if not isinstance(position, list) or not position or not all(_is_key_part(part) for part in position):
        raise ClientException(f"Invalid nextToken {shown!r}: not a token this service returned.")
    return tuple(position)


def _is_key_part(part: Any) -> bool:
    """A position key holds strings and numbers only (what :func:`encode_token` writes)."""
    if isinstance(part, bool):
        return False
    if isinstance(part, float):
        return math.isfinite(part)
    if isinstance(part, int):
        return -(2**63) <= part < 2**63
    return isinstance(part, str)


def _check_max_results(params: dict[str, Any], default_max: int, limit: int) -> int:
    max_results = params.get("maxResults")
    if not max_results:  # absent, null or 0: the default page size, as before
        return default_max
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= limit:
        raise ClientException(f"Invalid maxResults {max_results!r}: must be between 1 and {limit}.")
    return max_results


def paginate(
    items: Sequence[T],
    params: dict[str, Any],
    *,
    key: PositionKey,
    default_max: int = 100,
    limit: int = 1000,
    page_cap: int | None = None,
    descending: bool = False,
) -> tuple[list[T], str | None]:
    """Return ``(page, next_token)`` for ``maxResults``/``nextToken`` in ``params``.

    :param items: the items in their stable order: ascending by ``key`` (descending when ``descending``).
    :param key: the position key of an item, unique within ``items`` (e.g. ``(createdAt, jobId)``).
    :param limit: the largest ``maxResults`` the API accepts.
    :param page_cap: the most items one page holds whatever ``maxResults`` says (ListJobs with a filter).
    """
    size = _check_max_results(params, default_max, limit)
    if page_cap is not None:
        size = min(size, page_cap)
    start = 0
    token = params.get("nextToken")
    if token:
        last = decode_token(token)
        try:
            if descending:
                start = next((i for i, item in enumerate(items) if key(item) < last), len(items))
            else:
                start = next((i for i, item in enumerate(items) if key(item) > last), len(items))
        except TypeError:  # a token of another listing: its key does not compare with these keys
            raise ClientException(f"Invalid nextToken {token[:200]!r}: not a token for this request.") from None
    page = list(items[start : start + size])
    next_token = encode_token(key(page[-1])) if page and start + size < len(items) else None
    return page, next_token


def check_reference_count(refs: Sequence[str], field: str, max_refs: int) -> None:
    """The shared rule of Describe*: at most ``max_refs`` names or ARNs in ``field``."""
    if len(refs) > max_refs:
        raise ClientException(f"{field} lists {len(refs)} entries; at most {max_refs} are allowed.")


def describe_resources(
    params: dict[str, Any],
    *,
    field: str,
    result_field: str,
    records: Sequence[T],
    find: Callable[[str], T | None],
    to_wire: Callable[[T], dict[str, Any]],
    key: PositionKey,
    max_refs: int = 100,
) -> dict[str, Any]:
    """DescribeComputeEnvironments / DescribeJobQueues: every record (in ``key`` order) or the ones named
    in ``params[field]`` (in the order named, unknown names skipped), one page of them as ``result_field``.
    """
    refs = params.get(field) or []
    check_reference_count(refs, field, max_refs)
    if refs:
        found = list({id(r): r for r in (find(ref) for ref in refs) if r is not None}.values())
        position = {id(r): i for i, r in enumerate(found)}
        page, token = paginate(found, params, key=lambda r: (position[id(r)],), limit=100)
    else:
        ordered = sorted(records, key=key)
        page, token = paginate(ordered, params, key=key, limit=100)
    body: dict[str, Any] = {result_field: [to_wire(r) for r in page]}
    if token:
        body["nextToken"] = token
    return body
