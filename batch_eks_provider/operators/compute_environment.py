"""The operator that scales, pre-warms, enables or disables an AWS Batch compute environment."""

from __future__ import annotations

import time
from typing import Any, Sequence

from airflow.sdk import BaseOperator

from ..exceptions import BatchEksComputeEnvironmentError, BatchEksInvalidInputError, BatchEksWaitTimeoutError
from ..hooks.batch import BatchEksHook
from .request import as_int

__all__ = ["BatchEksScaleComputeEnvironmentOperator"]


class BatchEksScaleComputeEnvironmentOperator(BaseOperator):
    """Change a compute environment's vCPU bounds or state and wait until it is VALID again.

    Pre-warm before a run with ``min_vcpus``/``desired_vcpus``; scale to zero after it with
    ``scale_to_zero=True`` (min and desired 0); enable or disable with ``state``.

    Returns the compute environment's ``computeResources`` after the change (``minvCpus``,
    ``desiredvCpus``, ``maxvCpus``) and its ``state``/``status``.

    :param compute_environment: Compute environment name or ARN.
    :param min_vcpus: New ``minvCpus``.
    :param desired_vcpus: New ``desiredvCpus`` (between min and max).
    :param max_vcpus: New ``maxvCpus``.
    :param scale_to_zero: Set ``minvCpus`` and ``desiredvCpus`` to 0 (idle nodes go away).
    :param state: ``"ENABLED"`` or ``"DISABLED"``.
    :param wait_until_valid: Wait until the CE is VALID again (an INVALID CE fails with its statusReason).
    :param poll_interval: Seconds between DescribeComputeEnvironments calls while waiting.
    :param max_wait: Seconds to wait for VALID before failing.
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region, default the connection's.

    .. seealso:: https://docs.aws.amazon.com/batch/latest/APIReference/API_UpdateComputeEnvironment.html
    """

    template_fields: Sequence[str] = ("compute_environment", "min_vcpus", "desired_vcpus", "max_vcpus", "state")
    ui_color = "#ff9900"

    def __init__(
        self,
        *,
        compute_environment: str,
        min_vcpus: int | str | None = None,
        desired_vcpus: int | str | None = None,
        max_vcpus: int | str | None = None,
        scale_to_zero: bool = False,
        state: str | None = None,
        wait_until_valid: bool = True,
        poll_interval: float = 5.0,
        max_wait: float = 600.0,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.compute_environment = compute_environment
        self.min_vcpus = min_vcpus
        self.desired_vcpus = desired_vcpus
        self.max_vcpus = max_vcpus
        self.scale_to_zero = scale_to_zero
        self.state = state
        self.wait_until_valid = wait_until_valid
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name

    def _update_request(self) -> dict[str, Any]:
        resources: dict[str, int] = {}
        for field, wire in (("min_vcpus", "minvCpus"), ("desired_vcpus", "desiredvCpus"), ("max_vcpus", "maxvCpus")):
            value = as_int(field, getattr(self, field))
            if value is not None:
                if value < 0:
                    raise BatchEksInvalidInputError(field, value, "must be 0 or more.")
                resources[wire] = value
        if self.scale_to_zero:
            if resources.get("minvCpus") or resources.get("desiredvCpus"):
                raise BatchEksInvalidInputError("scale_to_zero", True, "cannot be combined with min_vcpus/desired_vcpus above 0.")
            resources.update(minvCpus=0, desiredvCpus=0)
        request: dict[str, Any] = {"computeEnvironment": self.compute_environment}
        if resources:
            request["computeResources"] = resources
        if self.state:
            state = str(self.state).upper()
            if state not in ("ENABLED", "DISABLED"):
                raise BatchEksInvalidInputError("state", self.state, "must be ENABLED or DISABLED.")
            request["state"] = state
        if len(request) == 1:
            raise BatchEksInvalidInputError(
                "compute_environment", self.compute_environment, "nothing to change: give vCPUs, scale_to_zero or state."
            )
        return request

    def _describe(self, hook: BatchEksHook) -> dict[str, Any]:
        found = hook.describe_compute_environments([self.compute_environment])
        if not found:
            raise BatchEksComputeEnvironmentError(
                f"Compute environment {self.compute_environment!r} does not exist.", compute_environment=self.compute_environment
            )
        return found[0]

    def _apply(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send UpdateComputeEnvironment and wait for VALID (``BatchEksComputeEnvironmentHook`` when present)."""
        try:
            from ..hooks.compute_environment import BatchEksComputeEnvironmentHook  # noqa: F401
        except ImportError:
            pass
        hook = BatchEksHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)
        hook.conn.update_compute_environment(**request)
        if not self.wait_until_valid:
            return self._describe(hook)
        deadline = time.monotonic() + self.max_wait
        while True:
            ce = self._describe(hook)
            if ce.get("status") == "VALID":
                return ce
            if ce.get("status") == "INVALID":
                raise BatchEksComputeEnvironmentError(
                    f"Compute environment {ce['computeEnvironmentName']} is INVALID: {ce.get('statusReason')}",
                    compute_environment=ce["computeEnvironmentName"],
                    status_reason=ce.get("statusReason"),
                )
            if time.monotonic() >= deadline:
                raise BatchEksWaitTimeoutError(
                    f"Compute environment {ce['computeEnvironmentName']} still {ce.get('status')} after {self.max_wait}s."
                )
            time.sleep(self.poll_interval)

    def execute(self, context: Any) -> dict[str, Any]:
        request = self._update_request()
        self.log.info("Updating compute environment %s: %s", self.compute_environment, request)
        ce = self._apply(request)
        resources = ce.get("computeResources", {})
        result = {
            "compute_environment": ce["computeEnvironmentName"],
            "state": ce.get("state"),
            "status": ce.get("status"),
            "min_vcpus": resources.get("minvCpus"),
            "desired_vcpus": resources.get("desiredvCpus"),
            "max_vcpus": resources.get("maxvCpus"),
        }
        self.log.info("Compute environment %s is now %s", self.compute_environment, result)
        return result
