"""The one retry policy for transient AWS errors (throttling, 5xx, dropped connections).

botocore already retries some of these; this decorator is the bounded, jittered layer on top that the
hooks use for every call, so a throttled engine or account slows tasks down instead of failing them.
Errors that are not transient (``ClientException``: bad input, unknown job queue...) are raised at once.

The bounds and the sleep are read from :data:`policy` on every call, so tests (and a deployment that wants
other bounds) change them in one place::

    from batch_eks_provider import retries
    with retries.overridden(initial_wait=0.001, max_wait=0.01):
        hook.describe_jobs(ids)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable, Iterator

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)
from tenacity import RetryCallState, before_sleep_log, retry, retry_if_exception
from tenacity.wait import wait_random_exponential
from urllib3.exceptions import ProtocolError

__all__ = [
    "is_transient",
    "is_unprocessed",
    "is_ambiguous",
    "is_request_error",
    "aws_api_retry",
    "backoff_seconds",
    "TRANSIENT_ERROR_CODES",
    "THROTTLING_ERROR_CODES",
    "RetryPolicy",
    "policy",
    "overridden",
]

log = logging.getLogger(__name__)

THROTTLING_ERROR_CODES = frozenset(
    {"TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded"}
)
"""Error codes of a request refused before it was processed (rate limits)."""

TRANSIENT_ERROR_CODES = THROTTLING_ERROR_CODES | frozenset(
    {
        "ServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerError",
        "InternalFailure",
    }
)


@dataclass
class RetryPolicy:
    """Bounds of :func:`aws_api_retry`: attempts, total time, and full-jitter exponential waits.

    :param max_attempts: Calls in total, the first included.
    :param max_delay: Seconds after the first call past which no retry starts.
    :param initial_wait: Scale of the first wait (``random(0, initial_wait * 2**n)``).
    :param max_wait: Cap of one wait.
    :param sleep: How to wait (``time.sleep``; tests may pass a recorder).
    """

    max_attempts: int = 8
    max_delay: float = 120.0
    initial_wait: float = 0.5
    max_wait: float = 20.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    @classmethod
    def from_config(cls) -> "RetryPolicy":
        """The bounds from the ``[batch_eks]`` section of the Airflow configuration (the defaults above when unset)."""
        from airflow.configuration import conf

        return cls(
            max_attempts=conf.getint("batch_eks", "retry_max_attempts", fallback=cls.max_attempts),
            max_delay=conf.getfloat("batch_eks", "retry_max_delay", fallback=cls.max_delay),
            initial_wait=conf.getfloat("batch_eks", "retry_initial_wait", fallback=cls.initial_wait),
            max_wait=conf.getfloat("batch_eks", "retry_max_wait", fallback=cls.max_wait),
        )


policy = RetryPolicy.from_config()
"""The process-wide policy every hook call reads (``[batch_eks] retry_*`` at import)."""


@contextlib.contextmanager
def overridden(**changes: Any) -> Iterator[RetryPolicy]:
    """Change :data:`policy` fields inside a ``with`` block (tests: short waits, recorded sleeps)."""
    saved = dataclasses.replace(policy)
    for name, value in changes.items():
        if not hasattr(policy, name):
            raise TypeError(f"RetryPolicy has no field {name!r}")
        setattr(policy, name, value)
    try:
        yield policy
    finally:
        for f in dataclasses.fields(RetryPolicy):
            setattr(policy, f.name, getattr(saved, f.name))


def backoff_seconds(retry_number: int, *, scale: float | None = None, cap: float | None = None) -> float:
    """The one backoff of the provider: the full-jitter exponential wait before retry ``retry_number``
    (1 = the first retry), ``random(0, min(cap, scale * 2**(n - 1)))`` by tenacity's ``wait_random_exponential``.

    :param scale: Default :attr:`RetryPolicy.initial_wait`.
    :param cap: Default :attr:`RetryPolicy.max_wait`.
    """
    wait = wait_random_exponential(
        multiplier=policy.initial_wait if scale is None else scale, max=policy.max_wait if cap is None else cap
    )
    return float(wait(SimpleNamespace(attempt_number=max(1, retry_number))))


def is_transient(error: BaseException) -> bool:
    """True for throttling, 5xx answers and dropped or refused connections: worth another try."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in TRANSIENT_ERROR_CODES or status == 429 or status >= 500
    return isinstance(
        error,
        (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ProtocolError, ConnectionError),
    )


def is_unprocessed(error: BaseException) -> bool:
    """True when the request certainly was not processed, so sending it again cannot do anything twice:
    throttling (429 or a throttling code) and a connection that was never made (refused, connect timeout:
    botocore's :class:`~botocore.exceptions.EndpointConnectionError` and its subclasses)."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in THROTTLING_ERROR_CODES or status == 429
    return isinstance(error, EndpointConnectionError)


REQUEST_ERROR_CODES = frozenset({"ClientException", "InvalidParameterException", "ValidationException"})


def is_request_error(error: BaseException) -> bool:
    """True for an error caused by what was sent (a malformed id, a parameter botocore refused), not by the
    connection or the service: sending it again cannot help, sending less of it may."""
    if isinstance(error, ParamValidationError):
        return True
    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in REQUEST_ERROR_CODES


def is_ambiguous(error: BaseException) -> bool:
    """True for a transient error after which the request may or may not have been processed: a 5xx answer,
    a read timeout, a connection dropped after the request was sent."""
    return is_transient(error) and not is_unprocessed(error)


def aws_api_retry(
    max_attempts: int | None = None,
    max_delay: float | None = None,
    predicate: Callable[[BaseException], bool] = is_transient,
):
    """Retry a call on transient errors with full-jitter exponential backoff, bounded in tries and time.

    :param max_attempts: Overrides :attr:`RetryPolicy.max_attempts` for this call site.
    :param max_delay: Overrides :attr:`RetryPolicy.max_delay` for this call site.
    :param predicate: Which errors are worth another try (default :func:`is_transient`; a call that must not
        run twice passes :func:`is_unprocessed`, the Kubernetes calls pass their own).
    """

    def stop(state: RetryCallState) -> bool:
        attempts = max_attempts if max_attempts is not None else policy.max_attempts
        delay = max_delay if max_delay is not None else policy.max_delay
        return state.attempt_number >= attempts or (state.seconds_since_start or 0.0) >= delay

    def wait(state: RetryCallState) -> float:
        return backoff_seconds(state.attempt_number)

    return retry(
        retry=retry_if_exception(predicate),
        wait=wait,
        stop=stop,
        sleep=lambda seconds: policy.sleep(seconds),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
