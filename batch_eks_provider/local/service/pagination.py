"""Batch-style pagination: an opaque ``nextToken`` that is the offset into a stable ordering."""

from __future__ import annotations

import base64
from typing import Any, Sequence

from ..errors import ClientException

__all__ = ["paginate"]


def paginate(items: Sequence[Any], params: dict[str, Any], default_max: int = 100, limit: int = 1000):
    """Return ``(page, next_token)`` for ``maxResults``/``nextToken`` in ``params``."""
    max_results = params.get("maxResults") or default_max
    if not (1 <= int(max_results) <= limit):
        raise ClientException(f"Invalid maxResults {max_results!r}: must be between 1 and {limit}.")
    start = 0
    token = params.get("nextToken")
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except Exception:
            raise ClientException(f"Invalid nextToken {token!r}: not a token this service returned.") from None
    end = start + int(max_results)
    page = list(items[start:end])
    next_token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return page, next_token
