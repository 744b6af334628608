"""The operator that scales, pre-warms, enables or disables an AWS Batch compute environment."""

from __future__ import annotations

from typing import Any, Sequence

from airflow.sdk import BaseOperator

from ..exceptions import BatchEksInvalidInputError
from ..hooks.compute_environment import BatchEksComputeEnvironmentHook
from .request import as_int
from ..waiting.policy import DEFAULT_POLL_INTERVAL

__all__ = ["BatchEksScaleComputeEnvironmentOperator"]


class BatchEksScaleComputeEnvironmentOperator(BaseOperator):
    """Change a compute environment's vCPU bounds or state and wait until it is VALID again.

    Pre-warm before a run with ``pre_warm_vcpus`` (raises ``minvCpus``, never lowers it) or set any of
    ``min_vcpus``/``desired_vcpus``/``max_vcpus``; scale to zero after it with ``scale_to_zero=True``
    (``minvCpus`` 0: Batch removes idle nodes); enable or disable with ``state``.

    Returns the environment's vCPUs after the change, its ``state``/``status``, and ``previous`` (the values
    before, to put it back).

    :param compute_environment: Compute environment name or ARN.
    :param min_vcpus: New ``minvCpus``.
    :param desired_vcpus: New ``desiredvCpus`` (between min and max).
    :param max_vcpus: New ``maxvCpus``.
    :param pre_warm_vcpus: Raise ``minvCpus`` to this many vCPUs so nodes are up before a run.
    :param scale_to_zero: Set ``minvCpus`` to 0 (idle nodes go away; running jobs are not touched).
    :param state: ``"ENABLED"`` or ``"DISABLED"``.
    :param wait_until_valid: Wait until the CE is VALID again (an INVALID CE fails with its statusReason).
    :param poll_interval: Seconds between DescribeComputeEnvironments calls while waiting.
    :param max_wait: Seconds to wait for VALID before failing.
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region, default the connection's.

    .. seealso:: https://docs.aws.amazon.com/batch/latest/APIReference/API_UpdateComputeEnvironment.html
    """

    template_fields: Sequence[str] = ("compute_environment", "min_vcpus", "desired_vcpus", "max_vcpus", "pre_warm_vcpus", "state")
    ui_color = "#ff9900"

    def __init__(
        self,
        *,
        compute_environment: str,
        min_vcpus: int | str | None = None,
        desired_vcpus: int | str | None = None,
        max_vcpus: int | str | None = None,
        pre_warm_vcpus: int | str | None = None,
        scale_to_zero: bool = False,
        state: str | None = None,
        wait_until_valid: bool = True,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
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
        self.pre_warm_vcpus = pre_warm_vcpus
        self.scale_to_zero = scale_to_zero
        self.state = state
        self.wait_until_valid = wait_until_valid
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name

    @property
    def hook(self) -> BatchEksComputeEnvironmentHook:
        return BatchEksComputeEnvironmentHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    def _checked(self) -> tuple[dict[str, int], int | None, str | None]:
        vcpus = {}
        for field in ("min_vcpus", "desired_vcpus", "max_vcpus"):
            value = as_int(field, getattr(self, field))
            if value is not None:
                vcpus[field] = value
        pre_warm = as_int("pre_warm_vcpus", self.pre_warm_vcpus)
        if self.scale_to_zero and (vcpus.get("min_vcpus") or pre_warm):
            raise BatchEksInvalidInputError("scale_to_zero", True, "cannot be combined with min_vcpus or pre_warm_vcpus above 0.")
        state = str(self.state).upper() if self.state else None
        if state not in (None, "ENABLED", "DISABLED"):
            raise BatchEksInvalidInputError("state", self.state, "must be ENABLED or DISABLED.")
        if not vcpus and pre_warm is None and not self.scale_to_zero and state is None:
            raise BatchEksInvalidInputError(
                "compute_environment", self.compute_environment, "nothing to change: give vCPUs, pre_warm_vcpus, scale_to_zero or state."
            )
        return vcpus, pre_warm, state

    def execute(self, context: Any) -> dict[str, Any]:
        vcpus, pre_warm, state = self._checked()  # bad input fails before any API call
        hook = self.hook
        name = self.compute_environment
        previous: dict[str, Any] | None = None
        if state == "ENABLED":
            hook.enable(name)
        if pre_warm is not None:
            previous = hook.pre_warm(name, pre_warm).to_dict()["previous"]
        if vcpus:
            previous = previous or hook.scale(name, **vcpus).to_dict()["previous"]
        if self.scale_to_zero:
            previous = previous or hook.scale_to_zero(name).to_dict()["previous"]
        if state == "DISABLED":
            hook.disable(name)
        ce = hook.wait_until_valid(name, timeout=self.max_wait, poll_interval=self.poll_interval) if self.wait_until_valid else hook.describe(name)
        resources = ce.get("computeResources", {})
        result = {
            "compute_environment": ce["computeEnvironmentName"],
            "state": ce.get("state"),
            "status": ce.get("status"),
            "min_vcpus": resources.get("minvCpus"),
            "desired_vcpus": resources.get("desiredvCpus"),
            "max_vcpus": resources.get("maxvCpus"),
            "previous": previous,
        }
        self.log.info("Compute environment %s is now %s", name, result)
        return result
