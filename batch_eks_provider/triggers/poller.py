"""One poll loop per connection for every deferred Batch job in a triggerer.

Each :class:`~batch_eks_provider.triggers.batch.BatchEksJobTrigger` only declares what it waits for; it calls
:func:`wait_for_job`, which hands the job id to the :class:`JobPoller` of its (connection, region) in the
running event loop. That poller uses ONE hook (:class:`~batch_eks_provider.hooks.batch.BatchEksHook`, whose client
every loop of the process shares while a poller uses it) and ONE asyncio task that, each cycle, describes all
waited jobs with ``ceil(N / 100)`` DescribeJobs calls (:meth:`~batch_eks_provider.hooks.batch.BatchEksHook.describe_jobs_once`)
and wakes the waiters whose jobs reached a terminal state. The cycle is the retry: a failed one is tried again
after the shared backoff (:func:`~batch_eks_provider.retries.backoff_seconds`), not within the cycle.

Faults stay local:

- throttling and other transient errors slow the loop down (exponential backoff up to
  :data:`MAX_BACKOFF_SECONDS`) instead of failing any task;
- a request error on a batch of ids (e.g. one malformed id) is narrowed by describing the batch in halves,
  so only the bad id's waiter fails;
- any other error (an expired token, denied access) drops the shared hook, backs off, and fails the
  waiters only after :data:`FAILING_CYCLES_LIMIT` failing cycles in a row;
- an entry that cannot be read fails only its own waiter, and if the loop itself dies, every waiter left
  gets a :class:`JobPollerError` instead of hanging.

The loop ends, the poller leaves the registry and the shared hook is dropped (so a changed connection is
read again next time) as soon as no job is waited on. DescribeJobs runs in a thread
(:func:`asyncio.to_thread`), so the triggerer's event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from ..outcome import TERMINAL_STATUSES
from ..retries import backoff_seconds, is_transient
from ..waiting import policy
from ..waiting.policy import FAILING_CYCLES_LIMIT, MAX_BACKOFF_SECONDS, NOT_FOUND_CYCLES

__all__ = [
    "DESCRIBE_JOBS_LIMIT",
    "FAILING_CYCLES_LIMIT",
    "MAX_BACKOFF_SECONDS",
    "NOT_FOUND_CYCLES",
    "JobPoller",
    "JobPollerError",
    "PollerStats",
    "get_poller",
    "active_pollers",
    "drop_shared_hooks",
    "shared_hook",
    "wait_for_job",
    "cycles_needed",
]

log = logging.getLogger(__name__)

DESCRIBE_JOBS_LIMIT = 100
RECENT_CYCLES = 100

sleep: Callable[[float], Any] = asyncio.sleep
"""The sleep pollers made by :func:`get_poller` use (tests replace it to count cycles instead of waiting)."""

ConnectionKey = tuple[str | None, str | None]

_hooks: dict[tuple[str | None, str | None, str | None], Any] = {}
_pollers: dict[tuple[int, ConnectionKey], "JobPoller"] = {}


class JobPollerError(Exception):
    """Waiting on a job cannot go on: the job does not exist, or DescribeJobs failed permanently."""


def shared_hook(aws_conn_id: str | None, region_name: str | None) -> Any:
    """The one Batch hook (and so the one boto3 client) of this process for a connection, region and endpoint.

    Blocking (it reads the connection): call it from a thread inside an event loop.
    """
    from ..hooks.batch import BatchEksHook

    hook = BatchEksHook(aws_conn_id=aws_conn_id, region_name=region_name)
    key = (aws_conn_id, region_name, hook.conn_config.endpoint_url)
    shared = _hooks.get(key)
    if shared is None:
        hook.conn  # noqa: B018 - make the client here, in the caller's thread, not in the first cycle's
        shared = _hooks.setdefault(key, hook)
    return shared


def drop_shared_hooks(aws_conn_id: str | None, region_name: str | None) -> None:
    """Forget the shared hooks of a connection and region (the next :func:`shared_hook` reads it again)."""
    for key in [k for k in _hooks if k[:2] == (aws_conn_id, region_name)]:
        _hooks.pop(key, None)


@dataclass
class PollerStats:
    """What the loop did, for logs, metrics and tests (bounded: only the recent cycles are kept)."""

    cycles: int = 0
    describe_calls: int = 0
    calls_per_cycle: deque = field(default_factory=lambda: deque(maxlen=RECENT_CYCLES))
    throttled_cycles: int = 0
    failed_cycles: int = 0
    max_calls: int = 0


class _CycleFailed(Exception):
    """DescribeJobs failed for a reason that is not the ids sent."""


class JobPoller:
    """Describe every waited job of one connection in batches of 100, once per poll interval.

    The hook is looked up when the loop starts and after a failing cycle, and shared with every other
    poller of the same connection and endpoint while it runs.

    :param key: ``(aws_conn_id, region_name)``.
    :param hook_factory: Returns the :class:`~batch_eks_provider.hooks.batch.BatchEksHook` (blocking; run in a thread).
    :param sleep: ``asyncio.sleep`` or a stand-in; the loop's only source of waiting.
    """

    def __init__(
        self,
        key: ConnectionKey,
        hook_factory: Callable[[], Any] | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.key = key
        self._hook_factory = hook_factory or (lambda: shared_hook(*key))
        self._hook: Any = None
        self._sleep = sleep
        self._waiters: dict[str, list[tuple[asyncio.Future, float]]] = {}
        self._on_entry: dict[str, list[Callable[[dict[str, Any]], None]]] = {}
        self._peeks: dict[str, list[str]] = {}
        self._missing: dict[str, int] = {}
        self.latest: dict[str, dict[str, Any]] = {}
        """The last entry read of every job described (waited on or peeked at)."""
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._sleeping_for: float | None = None
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

    def peek(self, job_id: str, other_ids: list[str]) -> None:
        """Describe ``other_ids`` too, in the same batched calls, while ``job_id`` is waited on (e.g. its upstream
        jobs, to say what it waits for): their entries land in :attr:`latest`; nobody waits on them."""
        if job_id in self._waiters:
            self._peeks[job_id] = list(dict.fromkeys(other_ids))

    async def wait(
        self, job_id: str, poll_interval: float, on_entry: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """Return the job's DescribeJobs entry once it is SUCCEEDED or FAILED.

        :param on_entry: Called (in the event loop, must not block) with each entry read while the job is not done.
        :raises JobPollerError: the job does not exist, or DescribeJobs kept failing with a non-transient error.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        entry = (future, max(float(poll_interval), policy.MIN_POLL_INTERVAL))
        self._waiters.setdefault(job_id, []).append(entry)
        if on_entry is not None:
            self._on_entry.setdefault(job_id, []).append(on_entry)
        _pollers.setdefault((id(loop), self.key), self)
        if not self.running:
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run(), name=f"batch-eks-poller:{self.key}")
        elif self._sleeping_for is not None and entry[1] < self._sleeping_for and self._wake is not None:
            self._wake.set()  # a shorter interval than the current sleep: do not make this waiter wait it out
        try:
            return await future
        finally:
            self._forget(job_id, entry, on_entry)

    def _forget(self, job_id: str, entry: tuple[asyncio.Future, float], on_entry: Any = None) -> None:
        callbacks = self._on_entry.get(job_id)
        if callbacks and on_entry in callbacks:
            callbacks.remove(on_entry)
        entries = self._waiters.get(job_id)
        if entries and entry in entries:
            entries.remove(entry)
        if not self._waiters.get(job_id):
            self._waiters.pop(job_id, None)
            self._missing.pop(job_id, None)
            self._on_entry.pop(job_id, None)
            self._peeks.pop(job_id, None)

    def _resolve(self, job_id: str, *, job: dict[str, Any] | None = None, error: BaseException | None = None) -> None:
        self._on_entry.pop(job_id, None)
        self._peeks.pop(job_id, None)
        for future, _ in self._waiters.pop(job_id, []):
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(job)
        self._missing.pop(job_id, None)

    def _describe_all(self, job_ids: list[str]) -> tuple[list[dict[str, Any]], int, dict[str, BaseException]]:
        if self._hook is None:
            self._hook = self._hook_factory()
        return self._hook.describe_jobs_once(job_ids)

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if a waiter with a shorter interval arrives meanwhile."""
        wake = self._wake or asyncio.Event()
        wake.clear()
        self._sleeping_for = seconds
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        woken = asyncio.ensure_future(wake.wait())
        try:
            done, _ = await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
            if sleeper in done:
                sleeper.result()  # a sleep that failed ends the loop (and its waiters learn of it)
        finally:
            self._sleeping_for = None
            for pending in (sleeper, woken):
                if not pending.done():
                    pending.cancel()

    def _classify(self, job_ids: list[str], jobs: list[dict[str, Any]], failed: dict[str, BaseException]) -> None:
        found = {job.get("jobId"): job for job in jobs}
        self.latest = found
        for job_id in job_ids:
            if job_id not in self._waiters:
                continue  # cancelled while DescribeJobs ran
            try:
                if job_id in failed:
                    error = JobPollerError(f"DescribeJobs rejected AWS Batch job id {job_id!r}: {failed[job_id]}")
                    error.__cause__ = failed[job_id]
                    self._resolve(job_id, error=error)
                    continue
                job = found.get(job_id)
                if job is None:
                    self._missing[job_id] = self._missing.get(job_id, 0) + 1
                    if self._missing[job_id] >= NOT_FOUND_CYCLES:
                        self._resolve(job_id, error=JobPollerError(f"AWS Batch job {job_id} does not exist."))
                elif job["status"] in TERMINAL_STATUSES:
                    self._resolve(job_id, job=job)
                else:
                    self._missing.pop(job_id, None)
                    for callback in list(self._on_entry.get(job_id, ())):
                        callback(job)
            except Exception as error:  # noqa: BLE001 - one unreadable entry fails its own waiter, not the loop
                failure = JobPollerError(f"Could not read the DescribeJobs entry of AWS Batch job {job_id}: {error!r}")
                failure.__cause__ = error
                self._resolve(job_id, error=failure)

    async def _run(self) -> None:
        backoff = 0.0
        failing = 0
        troubled = 0  # failing or throttled cycles in a row
        try:
            while self._waiters:
                job_ids = list(self._waiters)
                described = list(dict.fromkeys(job_ids + [i for ids in self._peeks.values() for i in ids]))
                try:
                    jobs, calls, failed = await asyncio.to_thread(self._describe_all, described)
                except Exception as error:  # noqa: BLE001 - transient slows down; others retry, then fail waiters
                    troubled += 1  # the provider's one backoff, never shorter than the poll interval
                    backoff = max(self._interval(), backoff_seconds(troubled, scale=self._interval(), cap=MAX_BACKOFF_SECONDS))
                    if is_transient(error):
                        self.stats.throttled_cycles += 1
                        log.warning("DescribeJobs throttled or unavailable (%s); polling again in %.1fs", error, backoff)
                    else:
                        self.stats.failed_cycles += 1
                        failing += 1
                        self._hook = None  # a new hook and client next cycle (e.g. refreshed credentials)
                        drop_shared_hooks(*self.key)
                        if failing >= FAILING_CYCLES_LIMIT:
                            failure = JobPollerError(
                                f"DescribeJobs failed {failing} cycles in a row for {len(job_ids)} waited job(s): {error}"
                            )
                            failure.__cause__ = error
                            for job_id in job_ids:
                                self._resolve(job_id, error=failure)
                            failing = 0
                            continue
                        log.warning("DescribeJobs failed (%s), cycle %d of %d; polling again in %.1fs",
                                    error, failing, FAILING_CYCLES_LIMIT, backoff)
                    await self._pause(backoff)
                    continue
                backoff = 0.0
                failing = troubled = 0
                self.stats.cycles += 1
                self.stats.describe_calls += calls
                self.stats.calls_per_cycle.append(calls)
                self.stats.max_calls = max(self.stats.max_calls, calls)
                self._classify(job_ids, jobs, failed)
                if self._waiters:
                    await self._pause(self._interval())
        finally:
            self._stop()

    def _stop(self) -> None:
        """Leave the registry; fail every waiter left (the loop died) so that none waits forever."""
        left = [job_id for job_id, entries in self._waiters.items() if any(not f.done() for f, _ in entries)]
        if left:
            log.error("The DescribeJobs loop of %s stopped with %d job(s) still waited on", self.key, len(left))
            for job_id in left:
                self._resolve(job_id, error=JobPollerError(f"The poll loop stopped while waiting on AWS Batch job {job_id}."))
        try:
            loop_key = (id(asyncio.get_running_loop()), self.key)
        except RuntimeError:
            loop_key = None
        if loop_key is not None and _pollers.get(loop_key) is self:
            del _pollers[loop_key]
        self._task = None
        self._hook = None
        if not any(poller.key == self.key for poller in _pollers.values()):
            drop_shared_hooks(*self.key)


def get_poller(aws_conn_id: str | None, region_name: str | None) -> JobPoller:
    """The poller of the running event loop for this connection and region (created on first use)."""
    key = (aws_conn_id, region_name)
    loop_key = (id(asyncio.get_running_loop()), key)
    poller = _pollers.get(loop_key)
    if poller is None:
        poller = _pollers[loop_key] = JobPoller(key, sleep=sleep)
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
