"""The one retry policy for transient AWS errors (throttling, 5xx, dropped connections).

botocore already retries some of these; this decorator is the bounded, jittered layer on top that the
hooks use for every call, so a throttled engine or account slows tasks down instead of failing them.
"""

from __future__ import annotations

import logging

from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from tenacity import (
    before_sleep_log,
    retry,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)
from urllib3.exceptions import ProtocolError

__all__ = ["is_transient", "aws_api_retry", "TRANSIENT_ERROR_CODES"]

log = logging.getLogger(__name__)

TRANSIENT_ERROR_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "ServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerError",
        "InternalFailure",
    }
)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in TRANSIENT_ERROR_CODES or status == 429 or status >= 500
    return isinstance(error, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ProtocolError, ConnectionError))


def aws_api_retry(max_attempts: int = 8, max_delay: float = 120.0):
    """Retry a call on transient errors with full-jitter exponential backoff, bounded in tries and time."""
    return retry(
        retry=retry_if_exception(is_transient),
        wait=wait_random_exponential(multiplier=0.5, max=20),
        stop=stop_after_attempt(max_attempts) | stop_after_delay(max_delay),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
