"""The hook that talks to AWS Batch for EKS jobs: jobs, job queues and compute environments."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Iterable, Mapping, Sequence

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.config import Config
from botocore.exceptions import ClientError

from ..exceptions import BatchEksError, BatchEksInvalidInputError, BatchEksQueueUnavailableError
from ..outcome import ACTIVE_STATUSES
from ..batch_rules import OVERRIDE_SECTIONS, override_target
from .queue_check import (
    QueueReport,
    ResourceRequirement,
    compute_environment_index,
    missing_queue_report,
    pick_queue,
    queue_report,
)
from .. import retries
from ..retries import aws_api_retry, is_ambiguous, is_request_error, is_transient, is_unprocessed
from .facts import facts_cache
from .submit_request import SubmitRequestSpec, build_submit_request, normalize_job_queues

__all__ = [
    "BatchEksHook",
    "BatchEksSubmitOutcomeUnknownError",
    "ALL_JOB_STATUSES",
    "DESCRIBE_JOBS_LIMIT",
    "DESCRIBE_RESOURCES_LIMIT",
    "REATTACH_STATUSES",
    "complete_override_resources",
]

DESCRIBE_JOBS_LIMIT = 100
DESCRIBE_RESOURCES_LIMIT = 100
REATTACH_STATUSES = (*ACTIVE_STATUSES, "SUCCEEDED")
"""Statuses of an earlier try's job worth re-attaching to instead of submitting again."""
ALL_JOB_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
SUBMIT_CLIENT_CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"})
"""botocore must not resend SubmitJob on its own (it would after a 5xx or a dropped connection): the hook
decides, see :meth:`BatchEksHook.submit_job`."""


class BatchEksSubmitOutcomeUnknownError(BatchEksError):
    """SubmitJob failed in a way that leaves open whether Batch created the job (5xx, read timeout, dropped
    connection), and the hook could not find out: no tags identify the submission. The job may exist."""


def chunked(items: Sequence[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _short_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def complete_override_resources(request: dict[str, Any], job_definition: Mapping[str, Any]) -> None:
    """Fill resources an override leaves out (e.g. ``cpu`` given, ``memory`` not) from the job definition's
    container, so the override is complete whether Batch replaces or merges ``resources``. Changes ``request``."""
    override = (request.get("eksPropertiesOverride") or {}).get("podProperties") or {}
    defined = (job_definition.get("eksProperties") or {}).get("podProperties") or {}
    for section in OVERRIDE_SECTIONS:
        targets = defined.get(section) or []
        for i, change in enumerate(override.get(section) or []):
            resources = change.get("resources")
            target = override_target(targets, change, i)
            if not resources or target is None:
                continue
            given = set(resources.get("limits") or {}) | set(resources.get("requests") or {})
            defined_resources = target.get("resources") or {}
            limits = defined_resources.get("limits") or {}
            requests = defined_resources.get("requests") or {}
            for key in dict.fromkeys([*limits, *requests]):
                if key in given:
                    continue
                if key in limits:
                    resources.setdefault("limits", {})[key] = limits[key]
                # a request that only repeats its limit is left for Batch to copy
                if key in requests and requests[key] != limits.get(key):
                    resources.setdefault("requests", {})[key] = requests[key]


class BatchEksHook(AwsBaseHook):
    """Submit, describe and stop AWS Batch jobs that run on Amazon EKS; inspect queues and compute environments.

    Every call is retried on throttling, 5xx and dropped connections (:func:`~batch_eks_provider.retries.aws_api_retry`);
    other errors (``ClientException``) are raised at once.

    :param aws_conn_id: The Airflow AWS connection (its extra ``endpoint_url`` may point at the local engine).
    :param region_name: AWS region; defaults to the connection's.

    .. seealso:: https://docs.aws.amazon.com/batch/latest/APIReference/API_SubmitJob.html
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    hook_name = "AWS Batch on EKS"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "batch"
        super().__init__(*args, **kwargs)

    # -- jobs ----------------------------------------------------------------------------------------------
    @functools.cached_property
    def submit_client(self) -> Any:
        """A batch client for SubmitJob only: the connection's settings, without botocore's own retries."""
        config = self.config.merge(SUBMIT_CLIENT_CONFIG)
        return self.get_client_type(region_name=self.region_name, config=config)

    def submit_job(self, *, identity_tags: Mapping[str, str] | None = None, **request: Any) -> dict[str, Any]:
        """Send one SubmitJob request (wire parameter names) and return ``{jobId, jobName, jobArn}``: never two
        jobs for one call.

        SubmitJob has no idempotency token, so it is sent again only when the request certainly was not
        processed (throttling, a refused connection; bounded as every call, :mod:`~batch_eks_provider.retries`).
        After an ambiguous error (5xx, read timeout, dropped connection) the hook first looks for the job:
        ``find_job_by_tags`` on ``jobQueue`` with ``jobName`` and ``identity_tags``; found, it is the answer;
        not found, the request is sent again.

        :param identity_tags: Tags that only this submission carries (the operator's DAG/task/run/try tags).
            Defaults to the request's ``tags``; with neither, an ambiguous error cannot be resolved.
        :raises BatchEksSubmitOutcomeUnknownError: an ambiguous error and no tags to look the job up with.
        :raises botocore.exceptions.ClientError: a rejected request (``ClientException``), or errors that
            persist past the retry bounds.
        """
        try:
            return self._submit_once(identity_tags, request)
        except Exception:
            facts_cache.clear()  # the facts the request was checked on may be what is wrong
            raise

    def _submit_once(self, identity_tags: Mapping[str, str] | None, request: dict[str, Any]) -> dict[str, Any]:
        tags = dict(identity_tags if identity_tags is not None else request.get("tags") or {})
        send = aws_api_retry(predicate=is_unprocessed)(self.submit_client.submit_job)
        rounds = max(1, retries.policy.max_attempts)
        for round_number in range(rounds):
            if round_number:
                retries.policy.sleep(retries.backoff_seconds(round_number))
            try:
                response = send(**request)
                return {k: response[k] for k in ("jobId", "jobName", "jobArn")}
            except Exception as error:
                if not is_ambiguous(error):
                    raise
                if not tags:
                    raise BatchEksSubmitOutcomeUnknownError(
                        f"SubmitJob of job {request.get('jobName')!r} on queue {request.get('jobQueue')!r} "
                        f"failed with {type(error).__name__}: {error}. The job may or may not exist; with no "
                        "tags to identify it, it is not submitted again. Look for it (ListJobs) before "
                        "resubmitting, or pass tags (identity_tags) that only this submission carries."
                    ) from error
                self.log.warning(
                    "SubmitJob of %r ended with %s; the job may exist: looking for it by its tags %s",
                    request.get("jobName"),
                    type(error).__name__,
                    tags,
                )
                existing = self.find_job_by_tags(
                    request["jobQueue"], tags, job_name=request.get("jobName"), statuses=ALL_JOB_STATUSES
                )
                if existing is not None:
                    self.log.info("SubmitJob had created job %s; not submitting again", existing["jobId"])
                    return {k: existing[k] for k in ("jobId", "jobName", "jobArn")}
                if round_number == rounds - 1:
                    raise
                self.log.info("No job carries tags %s: sending SubmitJob again", tags)
        raise AssertionError("unreachable: the last round returns or raises")

    @aws_api_retry()
    def _describe_chunk(self, job_ids: list[str]) -> list[dict[str, Any]]:
        return self.conn.describe_jobs(jobs=job_ids)["jobs"]

    def describe_jobs(self, job_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Describe any number of jobs, 100 ids per DescribeJobs call; returns ``{job_id: job}``
        (unknown ids are absent, as in the API)."""
        unique = list(dict.fromkeys(job_ids))
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunked(unique, DESCRIBE_JOBS_LIMIT):
            for job in self._describe_chunk(chunk):
                found[job["jobId"]] = job
        return found

    def describe_jobs_once(self, job_ids: Sequence[str]) -> tuple[list[dict[str, Any]], int, dict[str, BaseException]]:
        """One try at describing ``job_ids``, 100 per DescribeJobs call, for a caller whose next cycle is its retry
        (the triggers' shared poller): no retry here. Returns the entries found, the calls made, and the ids Batch
        rejected with the error of each: a batch refused for its ids (a malformed id) is described in halves
        until the bad ids stand alone, so the others are still read.

        :raises Exception: transient and connection errors (the whole cycle failed).
        """
        jobs: list[dict[str, Any]] = []
        rejected: dict[str, BaseException] = {}
        calls = 0
        for chunk in chunked(list(dict.fromkeys(job_ids)), DESCRIBE_JOBS_LIMIT):
            found, made = self._describe_narrowing(chunk, rejected)
            jobs.extend(found)
            calls += made
        return jobs, calls, rejected

    def _describe_narrowing(self, job_ids: list[str], rejected: dict[str, BaseException]) -> tuple[list[dict[str, Any]], int]:
        try:
            return self.conn.describe_jobs(jobs=job_ids)["jobs"], 1
        except Exception as error:  # noqa: BLE001 - sorted: only errors caused by the ids sent are narrowed down
            if is_transient(error) or not is_request_error(error):
                raise
            if len(job_ids) == 1:
                rejected[job_ids[0]] = error
                return [], 1
            middle = len(job_ids) // 2
            left, left_calls = self._describe_narrowing(job_ids[:middle], rejected)
            right, right_calls = self._describe_narrowing(job_ids[middle:], rejected)
            return left + right, 1 + left_calls + right_calls

    def describe_job(self, job_id: str) -> dict[str, Any] | None:
        """One job's DescribeJobs entry, or ``None`` if Batch does not know it."""
        return self.describe_jobs([job_id]).get(job_id)

    @aws_api_retry()
    def terminate_job(self, job_id: str, reason: str) -> None:
        """Stop a job in any state (STARTING/RUNNING jobs are terminated, earlier ones cancelled)."""
        self.conn.terminate_job(jobId=job_id, reason=reason)

    @aws_api_retry()
    def tag_job(self, job_arn: str, tags: Mapping[str, str]) -> None:
        """Add ``tags`` to a job (TagResource)."""
        self.conn.tag_resource(resourceArn=job_arn, tags=dict(tags))

    @aws_api_retry()
    def cancel_job(self, job_id: str, reason: str) -> None:
        """Cancel a job that has not started (SUBMITTED, PENDING, RUNNABLE); a started job is left running."""
        self.conn.cancel_job(jobId=job_id, reason=reason)

    @aws_api_retry()
    def list_jobs(self, **request: Any) -> list[dict[str, Any]]:
        """ListJobs across every page (``jobQueue``/``arrayJobId``, ``jobStatus``, ``filters`` as in the API)."""
        summaries: list[dict[str, Any]] = []
        for page in self.conn.get_paginator("list_jobs").paginate(**request):
            summaries.extend(page["jobSummaryList"])
        return summaries

    def find_job_by_tags(
        self,
        job_queue: str | Sequence[str],
        tags: Mapping[str, str],
        *,
        job_name: str | None = None,
        statuses: Sequence[str] = REATTACH_STATUSES,
        created_after_ms: int | None = None,
    ) -> dict[str, Any] | None:
        """Find the newest job on ``job_queue`` (a name, ARN or list of them) carrying every one of ``tags``.

        The operator uses it to re-attach to the job an earlier try submitted instead of submitting twice.
        With ``job_name``, one ListJobs per queue with a ``JOB_NAME`` filter (the API then returns every status);
        without it, one ListJobs per queue and status. Candidates are described 100 at a time to read their tags.

        :param statuses: Only jobs in these statuses count (default: active or SUCCEEDED).
        :param created_after_ms: Only jobs created at or after this time (epoch ms) are described, e.g. the DAG
            run's start: keeps a long history of same-named jobs from costing DescribeJobs calls.
        :return: The matching job's DescribeJobs entry, or ``None``.
        """
        queues = [job_queue] if isinstance(job_queue, str) else list(job_queue)
        wanted = {str(k): str(v) for k, v in tags.items()}
        candidates: dict[str, dict[str, Any]] = {}
        for queue in queues:
            if job_name:
                summaries = self.list_jobs(
                    jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [job_name]}]
                )
            else:
                summaries = [
                    s for status in statuses for s in self.list_jobs(jobQueue=queue, jobStatus=status)
                ]
            candidates.update(
                {
                    s["jobId"]: s
                    for s in summaries
                    if s["status"] in statuses
                    and (created_after_ms is None or s.get("createdAt", 0) >= created_after_ms)
                }
            )
        matches = [
            job
            for job in self.describe_jobs(candidates).values()
            if job["status"] in statuses
            and all((job.get("tags") or {}).get(k) == v for k, v in wanted.items())
        ]
        return max(matches, key=lambda j: j.get("createdAt", 0)) if matches else None

    # -- queues and compute environments -------------------------------------------------------------------
    @aws_api_retry()
    def describe_job_queues(self, names_or_arns: Sequence[str]) -> list[dict[str, Any]]:
        """DescribeJobQueues for the given queues (unknown ones are absent), 100 per call."""
        found: list[dict[str, Any]] = []
        for chunk in chunked(list(dict.fromkeys(names_or_arns)), DESCRIBE_RESOURCES_LIMIT):
            found.extend(self.conn.describe_job_queues(jobQueues=chunk)["jobQueues"])
        return found

    def describe_job_queue(self, name_or_arn: str) -> dict[str, Any] | None:
        """One queue's DescribeJobQueues entry, or ``None`` if it does not exist."""
        queues = self.describe_job_queues([name_or_arn])
        return queues[0] if queues else None

    @aws_api_retry()
    def describe_compute_environments(self, names_or_arns: Sequence[str]) -> list[dict[str, Any]]:
        """DescribeComputeEnvironments for the given environments (unknown ones are absent), 100 per call."""
        found: list[dict[str, Any]] = []
        for chunk in chunked(list(dict.fromkeys(names_or_arns)), DESCRIBE_RESOURCES_LIMIT):
            found.extend(
                self.conn.describe_compute_environments(computeEnvironments=chunk)["computeEnvironments"]
            )
        return found

    @aws_api_retry()
    def describe_job_definition(self, ref: str) -> dict[str, Any] | None:
        """The job definition for ``name``, ``name:revision`` or ARN (a bare name: the latest ACTIVE revision,
        read across every page: a definition may have far more than one page of revisions)."""
        if ref.startswith("arn:") or ":" in ref:
            found = self.conn.describe_job_definitions(jobDefinitions=[ref])["jobDefinitions"]
        else:
            pages = self.conn.get_paginator("describe_job_definitions").paginate(
                jobDefinitionName=ref, status="ACTIVE"
            )
            found = [d for page in pages for d in page["jobDefinitions"]]
        return max(found, key=lambda d: d["revision"]) if found else None

    @aws_api_retry()
    def get_job_queue_snapshot(self, job_queue: str) -> dict[str, Any]:
        """GetJobQueueSnapshot: the front of the queue in scheduling order (``frontOfQueue.jobs``: ``jobArn``,
        ``earliestTimeAtPosition``) and, where offered, ``queueUtilization``."""
        response = self.conn.get_job_queue_snapshot(jobQueue=job_queue)
        return {k: v for k, v in response.items() if k != "ResponseMetadata"}

    def queue_facts(self, job_queue: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]], dict[str, Any] | None]:
        """What a waiting job's queue looks like now, in three calls: its DescribeJobQueues entry, its compute
        environments in queue order, and its snapshot (``None`` when GetJobQueueSnapshot is refused: older
        endpoints and missing permissions only cost the line its position)."""
        described, ces = self._queue_facts([job_queue])  # the same two calls the submit checks make
        if not described:
            return None, [], None
        queue, by_ref = described[0], compute_environment_index(ces)
        order = [o["computeEnvironment"] for o in sorted(queue.get("computeEnvironmentOrder") or [], key=lambda o: o["order"])]
        try:
            snapshot: dict[str, Any] | None = self.get_job_queue_snapshot(queue["jobQueueArn"])
        except ClientError as error:
            self.log.debug("GetJobQueueSnapshot of %s refused: %s", queue["jobQueueName"], error)
            snapshot = None
        return queue, [dict(by_ref[ref]) for ref in order if ref in by_ref], snapshot

    def known_queue_names(self, job_queues: Sequence[str]) -> list[str]:
        """Names of the ``job_queues`` that exist, from the remembered queue facts (read once if not remembered)."""
        facts, _ = self._fact("queues", tuple(job_queues), lambda: self._queue_facts(job_queues))
        return [q["jobQueueName"] for q in facts[0]]

    def _fact(self, kind: str, what: Any, load: Any) -> tuple[Any, bool]:
        """A fact from :data:`~.facts.facts_cache` (``load()`` when not remembered) and whether it was remembered;
        facts are kept per connection, endpoint, region and role (one account's view)."""
        scope = (self.aws_conn_id, self.conn_config.endpoint_url, self.conn_region_name, self.conn_config.role_arn)
        return facts_cache.get((*scope, kind, what), load)

    def _queue_facts(self, job_queues: Sequence[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        described = self.describe_job_queues(job_queues)
        ce_refs = [e["computeEnvironment"] for q in described for e in q.get("computeEnvironmentOrder") or []]
        return described, (self.describe_compute_environments(ce_refs) if ce_refs else [])

    def inspect_queues(
        self,
        job_queues: Sequence[str],
        requirement: ResourceRequirement | None = None,
        *,
        facts: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None,
    ) -> list[QueueReport]:
        """Report on each queue, in order, with two calls in all: one DescribeJobQueues, one
        DescribeComputeEnvironments for every compute environment of every queue (none when ``facts``, those
        two answers, are given). Never raises for a queue that cannot take the job: the report says why."""
        described, described_ces = facts if facts is not None else self._queue_facts(job_queues)
        by_ref = {q["jobQueueName"]: q for q in described} | {q["jobQueueArn"]: q for q in described}
        ces = compute_environment_index(described_ces)
        return [
            queue_report(by_ref[ref], ces, requirement)
            if ref in by_ref
            else missing_queue_report(_short_name(ref))
            for ref in job_queues
        ]

    def check_queue(self, job_queue: str, requirement: ResourceRequirement | None = None) -> QueueReport:
        """Check that ``job_queue`` can take a job now and that the job can ever fit it.

        :raises BatchEksQueueUnavailableError: the queue is missing, DISABLED/INVALID, or none of its
            compute environments is ENABLED and VALID.
        :raises BatchEksInvalidInputError: the job asks for more cpu, memory or gpus than any instance type
            or ``maxvCpus`` of the queue's compute environments allows (field, value and limit named).
        """
        return self.choose_queue([job_queue], requirement)

    def choose_queue(
        self, job_queues: Sequence[str], requirement: ResourceRequirement | None = None
    ) -> QueueReport:
        """The first of ``job_queues`` that can take the job, falling back past missing, DISABLED or INVALID
        queues and queues whose compute environments are all unusable. Raises as :meth:`check_queue`."""
        return pick_queue(self.inspect_queues(list(job_queues), requirement))

    def resource_requirement(self, request: Mapping[str, Any]) -> ResourceRequirement:
        """What the pod of a SubmitJob ``request`` asks of a node: its job definition merged with
        ``eksPropertiesOverride`` (one DescribeJobDefinitions call). An unknown definition asks nothing here;
        SubmitJob will say it does not exist."""
        definition = self.describe_job_definition(request["jobDefinition"]) or {}
        return ResourceRequirement.for_submit_request(request, definition)

    def prepare_submit_request(
        self, spec: SubmitRequestSpec, *, request: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], QueueReport]:
        """Check everything about a submission and return the SubmitJob request and the queue chosen for it.

        In order: every input rule (:func:`~batch_eks_provider.hooks.submit_request.build_submit_request`, no call);
        the job definition exists (one DescribeJobDefinitions); the first usable queue of ``spec.job_queue``
        (a name or a list) that the job can fit (two calls, :meth:`choose_queue`); ``share_identifier`` given
        exactly when that queue has a fair-share policy (after a fallback to a FIFO queue it is dropped).
        Resources the override leaves out are filled from the job definition (:func:`complete_override_resources`).
        Nothing is submitted: the caller sends ``submit_job(**request)``.

        :param request: The request ``build_submit_request`` already made of ``spec`` (it is not built twice).

        :raises BatchEksInvalidInputError: bad input, an unknown job definition, a job that can never fit.
        :raises BatchEksQueueUnavailableError: no queue can take the job now.
        """
        queues = normalize_job_queues(spec.job_queue)
        self._remembered = False
        try:
            return self._prepare(spec, queues, request)
        except (BatchEksInvalidInputError, BatchEksQueueUnavailableError):
            if not self._remembered:
                raise
            facts_cache.clear()  # refuse on fresh facts only: a queue, CE or definition may have just changed
            return self._prepare(spec, queues, request)

    def _prepare(
        self, spec: SubmitRequestSpec, queues: list[str], request: dict[str, Any] | None
    ) -> tuple[dict[str, Any], QueueReport]:
        if request is None:
            request = build_submit_request(dataclasses.replace(spec, job_queue=queues[0]))
        else:
            request = dict(request)  # built once by the caller from the same spec; changed here, not there
        definition, remembered = self._fact(
            "definition", request["jobDefinition"], lambda: self.describe_job_definition(request["jobDefinition"])
        )
        if definition is None:
            raise BatchEksInvalidInputError(
                "job_definition", spec.job_definition, "no such job definition, or it has no ACTIVE revision."
            )
        complete_override_resources(request, definition)
        self._remembered = remembered
        facts, remembered = self._fact("queues", tuple(queues), lambda: self._queue_facts(queues))
        self._remembered = self._remembered or remembered
        requirement = ResourceRequirement.for_submit_request(request, definition)
        report = pick_queue(self.inspect_queues(queues, requirement, facts=facts))
        request["jobQueue"] = report.name
        if report.fair_share and "shareIdentifier" not in request:
            raise BatchEksInvalidInputError(
                "share_identifier",
                None,
                f"is required: job queue {report.name} has a fair-share scheduling policy.",
            )
        if not report.fair_share and "shareIdentifier" in request:
            if report.name == queues[0]:
                raise BatchEksInvalidInputError(
                    "share_identifier",
                    spec.share_identifier,
                    f"cannot be used: job queue {report.name} has no fair-share scheduling policy.",
                )
            self.log.info(
                "Job queue %s has no fair-share policy: not sending shareIdentifier %r",
                report.name,
                spec.share_identifier,
            )
            del request["shareIdentifier"]
        return request, report
