"""The hook that scales, enables and disables AWS Batch compute environments of EKS jobs."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from ..exceptions import BatchEksComputeEnvironmentError, BatchEksInvalidInputError, BatchEksWaitTimeoutError
from ..retries import aws_api_retry
from ..waiting.policy import DEFAULT_POLL_INTERVAL

__all__ = ["BatchEksComputeEnvironmentHook", "VcpuSettings", "ScaleResult", "compute_environment_ready"]


@dataclass(frozen=True)
class VcpuSettings:
    """``minvCpus``, ``desiredvCpus`` and ``maxvCpus`` of a compute environment (``None``: not given/unchanged)."""

    min_vcpus: int | None = None
    desired_vcpus: int | None = None
    max_vcpus: int | None = None


@dataclass(frozen=True)
class ScaleResult:
    """What a scaling call found and asked for; ``previous`` lets a DAG put the environment back."""

    compute_environment: str
    arn: str
    previous: VcpuSettings
    requested: VcpuSettings
    changed: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (XCom)."""
        return asdict(self)


def _vcpus(field: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BatchEksInvalidInputError(field, value, "must be a whole number of vCPUs, 0 or more.")
    return value


def _check_order(name: str, settings: VcpuSettings, where: str) -> None:
    pairs = (
        ("min_vcpus", settings.min_vcpus, "desired_vcpus", settings.desired_vcpus),
        ("desired_vcpus", settings.desired_vcpus, "max_vcpus", settings.max_vcpus),
        ("min_vcpus", settings.min_vcpus, "max_vcpus", settings.max_vcpus),
    )
    for low_name, low, high_name, high in pairs:
        if low is not None and high is not None and low > high:
            raise BatchEksInvalidInputError(
                low_name,
                low,
                f"must not be more than {high_name} ({high}){where}: AWS Batch needs min <= desired <= max "
                f"for compute environment {name}.",
            )


def compute_environment_ready(ce: dict[str, Any], state: str | None = None) -> bool:
    """The one readiness rule of a compute environment (the hook's wait and the sensor's poke): VALID, and in
    ``state`` when given; anything that can still become so is not ready yet.

    :raises BatchEksComputeEnvironmentError: INVALID (with its ``statusReason``), being deleted or deleted.
    """
    status = ce.get("status")
    label = f"AWS Batch compute environment {ce['computeEnvironmentName']} ({ce['computeEnvironmentArn']})"
    if status == "INVALID":
        raise BatchEksComputeEnvironmentError(
            f"{label} is INVALID: {ce.get('statusReason') or 'no statusReason given'}",
            compute_environment=ce["computeEnvironmentName"],
            status_reason=ce.get("statusReason"),
        )
    if status in ("DELETING", "DELETED"):
        raise BatchEksComputeEnvironmentError(
            f"{label} is {status}; it will not become VALID.",
            compute_environment=ce["computeEnvironmentName"],
            status_reason=ce.get("statusReason"),
        )
    return status == "VALID" and (state is None or ce.get("state") == state.upper())


class BatchEksComputeEnvironmentHook(AwsBaseHook):
    """Scale, pre-warm, scale to zero, enable, disable and wait for an AWS Batch compute environment.

    Inputs are checked before any call (:class:`~batch_eks_provider.exceptions.BatchEksInvalidInputError`);
    every call is retried on transient errors.

    :param aws_conn_id: The Airflow AWS connection.
    :param region_name: AWS region; defaults to the connection's.

    .. seealso:: https://docs.aws.amazon.com/batch/latest/APIReference/API_UpdateComputeEnvironment.html
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    hook_name = "AWS Batch on EKS compute environment"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "batch"
        super().__init__(*args, **kwargs)

    @aws_api_retry()
    def _describe(self, name: str) -> dict[str, Any] | None:
        found = self.conn.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]
        return found[0] if found else None

    def describe(self, name: str) -> dict[str, Any]:
        """The DescribeComputeEnvironments entry of ``name`` (name or ARN).

        :raises BatchEksComputeEnvironmentError: it does not exist.
        """
        ce = self._describe(name)
        if ce is None:
            raise BatchEksComputeEnvironmentError(
                f"AWS Batch compute environment {name} does not exist.", compute_environment=name
            )
        return ce

    @aws_api_retry()
    def _update(self, name: str, **request: Any) -> None:
        self.conn.update_compute_environment(computeEnvironment=name, **request)

    def scale(
        self,
        name: str,
        *,
        min_vcpus: int | None = None,
        desired_vcpus: int | None = None,
        max_vcpus: int | None = None,
    ) -> ScaleResult:
        """Set any of ``minvCpus``, ``desiredvCpus``, ``maxvCpus``; the others stay as they are.

        Checked before any call: whole numbers >= 0 and min <= desired <= max among those given; then against the
        current values: the result keeps min <= max, and ``desired_vcpus`` lies within it and is not below the
        current ``desiredvCpus`` (AWS Batch does not scale an environment down by hand; lower ``min_vcpus`` and
        Batch removes idle nodes). On AWS, Batch manages ``desiredvCpus`` of EKS environments itself: prefer
        ``min_vcpus`` (see :meth:`pre_warm`) to hold capacity.

        :return: The previous and requested values.
        """
        requested = VcpuSettings(
            _vcpus("min_vcpus", min_vcpus),
            _vcpus("desired_vcpus", desired_vcpus),
            _vcpus("max_vcpus", max_vcpus),
        )
        if requested == VcpuSettings():
            raise BatchEksInvalidInputError(
                "min_vcpus/desired_vcpus/max_vcpus",
                None,
                f"give at least one to scale compute environment {name}.",
            )
        _check_order(name, requested, "")
        ce = self.describe(name)
        previous = self._settings(ce)
        merged = VcpuSettings(
            requested.min_vcpus if requested.min_vcpus is not None else previous.min_vcpus,
            requested.desired_vcpus,
            requested.max_vcpus if requested.max_vcpus is not None else previous.max_vcpus,
        )
        _check_order(
            ce["computeEnvironmentName"],
            merged,
            f" (current values: {previous.min_vcpus}/{previous.desired_vcpus}/{previous.max_vcpus} min/desired/max)",
        )
        if requested.desired_vcpus is not None and requested.desired_vcpus < (previous.desired_vcpus or 0):
            raise BatchEksInvalidInputError(
                "desired_vcpus",
                requested.desired_vcpus,
                f"is below the current desiredvCpus ({previous.desired_vcpus}) of compute environment "
                f"{ce['computeEnvironmentName']}: AWS Batch does not scale down by hand; lower min_vcpus instead.",
            )
        changes = {
            key: value
            for key, value in (
                ("minvCpus", requested.min_vcpus),
                ("desiredvCpus", requested.desired_vcpus),
                ("maxvCpus", requested.max_vcpus),
            )
            if value is not None
        }
        changed = any(
            getattr(previous, attr) != value
            for attr, value in (
                ("min_vcpus", requested.min_vcpus),
                ("desired_vcpus", requested.desired_vcpus),
                ("max_vcpus", requested.max_vcpus),
            )
            if value is not None
        )
        if changed:
            self._update(ce["computeEnvironmentArn"], computeResources=changes)
            self.log.info(
                "Scaled compute environment %s (%s): %s",
                ce["computeEnvironmentName"],
                ce["computeEnvironmentArn"],
                changes,
            )
        return ScaleResult(
            ce["computeEnvironmentName"], ce["computeEnvironmentArn"], previous, requested, changed
        )

    def pre_warm(self, name: str, vcpus: int) -> ScaleResult:
        """Raise ``minvCpus`` to ``vcpus`` so nodes are up before a run; a lower or equal value is left alone.

        ``result.previous.min_vcpus`` is the value to restore afterwards (``scale(name, min_vcpus=...)``).
        """
        vcpus = _vcpus("vcpus", vcpus)
        ce = self.describe(name)
        previous = self._settings(ce)
        if previous.max_vcpus is not None and vcpus > previous.max_vcpus:
            raise BatchEksInvalidInputError(
                "vcpus",
                vcpus,
                f"is more than maxvCpus ({previous.max_vcpus}) of compute environment {ce['computeEnvironmentName']}.",
            )
        if previous.min_vcpus is not None and vcpus <= previous.min_vcpus:
            return ScaleResult(
                ce["computeEnvironmentName"],
                ce["computeEnvironmentArn"],
                previous,
                VcpuSettings(min_vcpus=vcpus),
                False,
            )
        return self.scale(ce["computeEnvironmentArn"], min_vcpus=vcpus)

    def scale_to_zero(self, name: str) -> ScaleResult:
        """Set ``minvCpus`` to 0 so Batch removes idle nodes (running jobs are not touched)."""
        return self.scale(name, min_vcpus=0)

    def enable(self, name: str) -> None:
        """Set the environment's state to ENABLED (its queues place jobs on it again)."""
        self._update(self.describe(name)["computeEnvironmentArn"], state="ENABLED")

    def disable(self, name: str) -> None:
        """Set the environment's state to DISABLED (no new jobs placed; running ones finish)."""
        self._update(self.describe(name)["computeEnvironmentArn"], state="DISABLED")

    def wait_until_valid(
        self,
        name: str,
        *,
        timeout: float = 600.0,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> dict[str, Any]:
        """Poll until the environment's status is VALID and return its description.

        At most ``ceil(timeout / poll_interval) + 1`` DescribeComputeEnvironments calls, even if ``clock`` stands still.

        :raises BatchEksComputeEnvironmentError: it is INVALID (with its ``statusReason``), being deleted, or gone.
        :raises BatchEksWaitTimeoutError: still not VALID after ``timeout`` seconds.
        """
        if poll_interval <= 0 or timeout < 0:
            raise BatchEksInvalidInputError(
                "poll_interval/timeout",
                (poll_interval, timeout),
                "poll_interval must be > 0 and timeout >= 0.",
            )
        start = clock()
        ce: dict[str, Any] = {}
        for _ in range(math.ceil(timeout / poll_interval) + 1):
            ce = self.describe(name)
            if compute_environment_ready(ce):
                return ce
            remaining = timeout - (clock() - start)
            if remaining <= 0:
                break
            sleep(min(poll_interval, remaining))
        raise BatchEksWaitTimeoutError(
            f"AWS Batch compute environment {name} ({ce.get('computeEnvironmentArn', '?')}) is still {ce.get('status')} "
            f"after waiting {timeout:g}s for VALID."
        )

    @staticmethod
    def _settings(ce: dict[str, Any]) -> VcpuSettings:
        resources = ce.get("computeResources") or {}
        return VcpuSettings(
            resources.get("minvCpus"), resources.get("desiredvCpus"), resources.get("maxvCpus")
        )
