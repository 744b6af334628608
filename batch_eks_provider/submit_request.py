"""Build and check a SubmitJob request from what a DAG author wrote, before any API call.

Every rule AWS Batch would enforce on these fields is checked here, so bad input fails the task at once
with :class:`~batch_eks_provider.exceptions.BatchEksInvalidInputError` naming the field, the value and the
rule, and no SubmitJob is ever sent for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .exceptions import BatchEksInvalidInputError

__all__ = ["SubmitRequestSpec", "build_submit_request", "normalize_cpu", "normalize_memory"]

_JOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


@dataclass
class SubmitRequestSpec:
    job_name: str
    job_queue: str
    job_definition: str
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None
    cpu: str | float | int | None = None
    memory: str | None = None
    gpus: int | None = None


def normalize_cpu(value: Any) -> str:
    text = str(value).strip()
    if text.endswith("m"):
        raise BatchEksInvalidInputError("cpu", value, "AWS Batch on EKS does not accept millicores; use whole vCPUs or multiples of 0.25 such as '0.25' or '2'.")
    try:
        cpu = Decimal(text)
    except InvalidOperation:
        raise BatchEksInvalidInputError("cpu", value, "must be a number of vCPUs such as '0.5' or '2'.") from None
    if cpu < Decimal("0.25") or (cpu * 4) % 1 != 0:
        raise BatchEksInvalidInputError("cpu", value, "must be at least 0.25 and a multiple of 0.25.")
    return format(cpu.normalize(), "f")


def normalize_memory(value: Any) -> str:
    text = str(value).strip()
    if not text.endswith("Mi") or not text[:-2].isdigit():
        raise BatchEksInvalidInputError("memory", value, "must be whole MiB with the 'Mi' suffix, e.g. '2048Mi'.")
    if int(text[:-2]) < 4:
        raise BatchEksInvalidInputError("memory", value, "must be at least 4Mi.")
    return text


def build_submit_request(spec: SubmitRequestSpec) -> dict[str, Any]:
    if not isinstance(spec.job_name, str) or not _JOB_NAME_RE.match(spec.job_name):
        raise BatchEksInvalidInputError(
            "job_name", spec.job_name, "up to 128 letters, digits, '-' and '_', starting with a letter or digit."
        )
    for field in ("job_queue", "job_definition"):
        if not getattr(spec, field):
            raise BatchEksInvalidInputError(field, getattr(spec, field), "is required.")
    container: dict[str, Any] = {}
    if spec.command is not None:
        container["command"] = [str(c) for c in spec.command]
    if spec.args is not None:
        container["args"] = [str(a) for a in spec.args]
    if spec.env:
        for name in spec.env:
            if name.startswith("AWS_BATCH"):
                raise BatchEksInvalidInputError("env", name, "names starting with AWS_BATCH are reserved for AWS Batch.")
        container["env"] = [{"name": k, "value": str(v)} for k, v in spec.env.items()]
    limits: dict[str, str] = {}
    if spec.cpu is not None:
        limits["cpu"] = normalize_cpu(spec.cpu)
    if spec.memory is not None:
        limits["memory"] = normalize_memory(spec.memory)
    if spec.gpus is not None:
        if int(spec.gpus) < 0:
            raise BatchEksInvalidInputError("gpus", spec.gpus, "must be a whole number, 0 or more.")
        limits["nvidia.com/gpu"] = str(int(spec.gpus))
    if limits:
        container["resources"] = {"limits": limits}
    request: dict[str, Any] = {"jobName": spec.job_name, "jobQueue": spec.job_queue, "jobDefinition": spec.job_definition}
    if container:
        request["eksPropertiesOverride"] = {"podProperties": {"containers": [container]}}
    return request
