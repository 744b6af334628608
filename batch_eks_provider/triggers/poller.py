"""One poll loop per connection for every deferred Batch job in a triggerer.

Each :class:`~batch_eks_provider.triggers.batch.BatchEksJobTrigger` only declares what it waits for; it calls
:func:`wait_for_job`, which hands the job id to the :class:`JobPoller` of its (connection, region) in the
running event loop. That poller owns ONE boto3 client (shared by every loop of the process) and ONE
asyncio task that, each cycle, describes all waited jobs with ``ceil(N / 100)`` DescribeJobs calls and
wakes the waiters whose jobs reached a terminal state. Throttling and other transient errors slow the
loop down (exponential backoff up to :data:`MAX_BACKOFF_SECONDS`) instead of failing any task. The loop
ends, and the poller leaves the registry, as soon as no job is waited on.

The DescribeJobs calls are blocking boto3 calls run with :func:`asyncio.to_thread`, so the triggerer's
event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ..outcome import TERMINAL_STATUSES
from ..retries import is_transient

__all__ = [
    "DESCRIBE_JOBS_LIMIT",
    "MAX_BACKOFF_SECONDS",
    "NOT_FOUND_CYCLES",
    "JobPoller",
    "JobPollerError",
    "PollerStats",
    "get_poller",
    "active_pollers",
    "shared_client",
    "wait_for_job",
    "cycles_needed",
]

log = logging.getLogger(__name__)

DESCRIBE_JOBS_LIMIT = 100
MAX_BACKOFF_SECONDS = 60.0
NOT_FOUND_CYCLES = 3  # a job id DescribeJobs does not know for this many cycles in a row is reported missing

ConnectionKey = tuple[str | None, str | None]

_clients: dict[tuple[str | None, str | None, str | None], Any] = {}
_pollers: dict[tuple[int, ConnectionKey], "JobPoller"] = {}


class JobPollerError(Exception):
    """Waiting on a job cannot go on: the job does not exist, or DescribeJobs failed permanently."""


def shared_client(aws_conn_id: str | None, region_name: str | None) -> Any:
    """The one boto3 Batch client of this process for a connection, region and endpoint.

    Blocking (it reads the connection): call it from a thread inside an event loop.
    """
    from ..hooks.batch import BatchEksHook

    hook = BatchEksHook(aws_conn_id=aws_conn_id, region_name=region_name)
    key = (aws_conn_id, region_name, hook.conn_config.endpoint_url)
    client = _clients.get(key)
    if client is None:
        client = _clients.setdefault(key, hook.conn)
    return client


@dataclass
class PollerStats:
    """What the loop did, for logs, metrics and tests."""

    cycles: int = 0
    describe_calls: int = 0
    calls_per_cycle: list[int] = field(default_factory=list)
    throttled_cycles: int = 0


class JobPoller:
    """Describe every waited job of one connection in batches of 100, once per poll interval.

    The client is looked up once each time the loop starts (so a changed connection is picked up after
    the loop has been idle) and shared with every other poller of the same connection and endpoint.

    :param key: ``(aws_conn_id, region_name)``.
    :param client_factory: Returns the boto3 Batch client (blocking; run in a thread).
    :param sleep: ``asyncio.sleep`` or a stand-in; the loop's only source of waiting.
    """

    def __init__(
        self,
        key: ConnectionKey,
        client_factory: Callable[[], Any] | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.key = key
        self._client_factory = client_factory or (lambda: shared_client(*key))
        self._client: Any = None
        self._sleep = sleep
        self._waiters: dict[str, list[tuple[asyncio.Future, float]]] = {}
        self._missing: dict[str, int] = {}
        self._task: asyncio.Task | None = None
        self.stats = PollerStats()

    @property
    def waiting(self) -> int:
        """How many distinct jobs are waited on."""
        return len(self._waiters)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _interval(self) -> float:
        return min((interval for futures in self._waiters.values() for _, interval in futures), default=1.0)

    async def wait(self, job_id: str, poll_interval: float) -> dict[str, Any]:
        """Return the job's DescribeJobs entry once it is SUCCEEDED or FAILED.

        :raises JobPollerError: the job does not exist or DescribeJobs failed with a non-transient error.
        """
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        entry = (future, max(float(poll_interval), 0.05))
        self._waiters.setdefault(job_id, []).append(entry)
        _pollers.setdefault((id(asyncio.get_running_loop()), self.key), self)
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"batch-eks-poller:{self.key}")
        try:
            return await future
        finally:
            self._forget(job_id, entry)

    def _forget(self, job_id: str, entry: tuple[asyncio.Future, float]) -> None:
        entries = self._waiters.get(job_id)
        if entries and entry in entries:
            entries.remove(entry)
            if not entries:
                del self._waiters[job_id]
                self._missing.pop(job_id, None)

    def _resolve(self, job_id: str, *, job: dict[str, Any] | None = None, error: BaseException | None = None) -> None:
        for future, _ in self._waiters.pop(job_id, []):
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(job)
        self._missing.pop(job_id, None)

    def _describe_all(self, job_ids: list[str]) -> tuple[list[dict[str, Any]], int]:
        if self._client is None:
            self._client = self._client_factory()
        client = self._client
        jobs: list[dict[str, Any]] = []
        calls = 0
        for start in range(0, len(job_ids), DESCRIBE_JOBS_LIMIT):
            jobs.extend(client.describe_jobs(jobs=job_ids[start : start + DESCRIBE_JOBS_LIMIT])["jobs"])
            calls += 1
        return jobs, calls

    async def _run(self) -> None:
        backoff = 0.0
        try:
            while self._waiters:
                job_ids = list(self._waiters)
                try:
                    jobs, calls = await asyncio.to_thread(self._describe_all, job_ids)
                except Exception as error:  # noqa: BLE001 - sorted below: transient slows down, others fail waiters
                    if not is_transient(error):
                        failure = JobPollerError(f"DescribeJobs failed for {len(job_ids)} waited job(s): {error}")
                        failure.__cause__ = error
                        for job_id in job_ids:
                            self._resolve(job_id, error=failure)
                        continue
                    self.stats.throttled_cycles += 1
                    backoff = min(max(backoff * 2, self._interval()), MAX_BACKOFF_SECONDS)
                    log.warning("DescribeJobs throttled or unavailable (%s); polling again in %.1fs", error, backoff)
                    await self._sleep(backoff)
                    continue
                backoff = 0.0
                self.stats.cycles += 1
                self.stats.describe_calls += calls
                self.stats.calls_per_cycle.append(calls)
                found = {job["jobId"]: job for job in jobs}
                for job_id in job_ids:
                    job = found.get(job_id)
                    if job is None:
                        self._missing[job_id] = self._missing.get(job_id, 0) + 1
                        if self._missing[job_id] >= NOT_FOUND_CYCLES:
                            self._resolve(job_id, error=JobPollerError(f"AWS Batch job {job_id} does not exist."))
                    elif job["status"] in TERMINAL_STATUSES:
                        self._resolve(job_id, job=job)
                    else:
                        self._missing.pop(job_id, None)
                if self._waiters:
                    await self._sleep(self._interval())
        finally:
            loop_key = (id(asyncio.get_running_loop()), self.key)
            if _pollers.get(loop_key) is self:
                del _pollers[loop_key]
            self._task = None
            self._client = None


def get_poller(aws_conn_id: str | None, region_name: str | None) -> JobPoller:
    """The poller of the running event loop for this connection and region (created on first use)."""
    key = (aws_conn_id, region_name)
    loop_key = (id(asyncio.get_running_loop()), key)
    poller = _pollers.get(loop_key)
    if poller is None:
        poller = _pollers[loop_key] = JobPoller(key)
    return poller


def active_pollers() -> list[JobPoller]:
    """Pollers of the running event loop that still have jobs to wait on."""
    loop_id = id(asyncio.get_running_loop())
    return [poller for (owner, _), poller in _pollers.items() if owner == loop_id]


async def wait_for_job(job_id: str, aws_conn_id: str | None, region_name: str | None, poll_interval: float) -> dict[str, Any]:
    """Wait, in the shared loop of this connection, until ``job_id`` is SUCCEEDED or FAILED; return its entry."""
    return await get_poller(aws_conn_id, region_name).wait(job_id, poll_interval)


def cycles_needed(waiting: int) -> int:
    """DescribeJobs calls one cycle makes for ``waiting`` jobs."""
    return math.ceil(waiting / DESCRIBE_JOBS_LIMIT)
