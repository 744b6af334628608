"""Kubernetes resource values as Batch on EKS accepts them: cpu, memory (``Mi``), ``nvidia.com/gpu``.

One place parses them for the API (validation of job definitions and overrides) and for scheduling (what a
pod asks of its node). Each function raises ``ClientException`` naming the field, the value and the rule.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import ClientException

# The most a compute environment can hold (maxvCpus is an int32): no container can ask for more.
MAX_CPU = Decimal(2**31 - 1)
MAX_MEMORY_MIB = 2**31 - 1
MAX_GPUS = 2**31 - 1
# A plain decimal, optionally with a short exponent as Kubernetes quantities allow ("1", "0.25", "2e0"):
# ASCII digits only, so NaN, Infinity, "1_000" and other Unicode digits never reach Decimal or int.
_CPU_RE = re.compile(r"^(?:[0-9]{1,40}(?:\.[0-9]{0,12})?|\.[0-9]{1,12})(?:[eE][+-]?[0-9]{1,2})?$")
_WHOLE_RE = re.compile(r"^[0-9]{1,19}$")

__all__ = ["parse_cpu", "parse_memory_mib", "parse_gpu", "normalize_container_resources", "container_requests", "pod_requests"]


def parse_cpu(value: Any, where: str) -> Decimal:
    """EKS cpu: whole numbers or multiples of 0.25, at least 0.25; millicores are rejected."""
    text = str(value).strip()
    if text.endswith("m"):
        raise ClientException(
            f"Invalid cpu value {text!r} in {where}: AWS Batch on EKS does not accept millicpu; "
            "use whole vCPUs or multiples of 0.25 (e.g. '0.25', '1')."
        )
    shown = text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"
    if not _CPU_RE.match(text):
        raise ClientException(
            f"Invalid cpu value {shown!r} in {where}: not a number (a decimal such as '1' or '0.25'; "
            "NaN and Infinity are not allowed)."
        )
    try:
        cpu = Decimal(text)
    except InvalidOperation:
        raise ClientException(f"Invalid cpu value {shown!r} in {where}: not a number.") from None
    if cpu > MAX_CPU:
        raise ClientException(f"Invalid cpu value {shown!r} in {where}: cpu must be at most {MAX_CPU} vCPUs.")
    if cpu < Decimal("0.25") or (cpu * 4) % 1 != 0:
        raise ClientException(
            f"Invalid cpu value {text!r} in {where}: cpu must be at least 0.25 and a multiple of 0.25."
        )
    return cpu


def parse_memory_mib(value: Any, where: str) -> int:
    """EKS memory: whole MiB written with the ``Mi`` suffix, at least 4."""
    text = str(value).strip()
    shown = text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"
    if not text.endswith("Mi") or not _WHOLE_RE.match(text[:-2]):
        raise ClientException(
            f"Invalid memory value {shown!r} in {where}: memory must be a whole number of MiB with the "
            "'Mi' suffix (e.g. '1024Mi')."
        )
    mib = int(text[:-2])
    if mib > MAX_MEMORY_MIB:
        raise ClientException(f"Invalid memory value {shown!r} in {where}: memory must be at most {MAX_MEMORY_MIB}Mi.")
    if mib < 4:
        raise ClientException(f"Invalid memory value {text!r} in {where}: memory must be at least 4Mi.")
    return mib


def parse_gpu(value: Any, where: str) -> int:
    text = str(value).strip()
    shown = text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"
    if not _WHOLE_RE.match(text) or int(text) > MAX_GPUS:
        raise ClientException(
            f"Invalid nvidia.com/gpu value {shown!r} in {where}: must be a whole number from 0 to {MAX_GPUS}."
        )
    return int(text)


def normalize_container_resources(resources: dict[str, Any] | None, where: str) -> dict[str, Any]:
    """Apply Batch's EKS resource rules and return ``{"limits": ..., "requests": ...}`` as the pod gets them.

    A missing request is copied from its limit; memory and GPU requests must equal their limits; a cpu
    request may not exceed its limit; at least one cpu and one memory value must be present.
    """
    resources = resources or {}
    limits = dict(resources.get("limits") or {})
    requests = dict(resources.get("requests") or {})
    for section_name, section in (("limits", limits), ("requests", requests)):
        for key, value in section.items():
            if key == "cpu":
                parse_cpu(value, f"{where}.resources.{section_name}")
            elif key == "memory":
                parse_memory_mib(value, f"{where}.resources.{section_name}")
            elif key == "nvidia.com/gpu":
                parse_gpu(value, f"{where}.resources.{section_name}")
            else:
                raise ClientException(
                    f"Invalid resource {key!r} in {where}.resources.{section_name}: only cpu, memory and "
                    "nvidia.com/gpu are supported."
                )
    if "cpu" not in limits and "cpu" not in requests:
        raise ClientException(f"Container {where} must specify a cpu value in resources limits or requests.")
    if "memory" not in limits and "memory" not in requests:
        raise ClientException(f"Container {where} must specify a memory value in resources limits or requests.")
    for key in ("memory", "nvidia.com/gpu"):
        if key in limits and key in requests and str(limits[key]) != str(requests[key]):
            raise ClientException(
                f"Invalid {key} in {where}: requests ({requests[key]!r}) must equal limits ({limits[key]!r})."
            )
    if "cpu" in limits and "cpu" in requests:
        if parse_cpu(requests["cpu"], where) > parse_cpu(limits["cpu"], where):
            raise ClientException(
                f"Invalid cpu in {where}: requests ({requests['cpu']!r}) must not exceed limits ({limits['cpu']!r})."
            )
    for key, value in limits.items():
        requests.setdefault(key, value)
    for key in ("memory", "nvidia.com/gpu"):
        if key in requests:
            limits.setdefault(key, requests[key])
    return {"limits": limits, "requests": requests}


def container_requests(container: dict[str, Any]) -> tuple[Decimal, int, int]:
    requests = (container.get("resources") or {}).get("requests") or {}
    cpu = parse_cpu(requests["cpu"], "container") if "cpu" in requests else Decimal(0)
    mem = parse_memory_mib(requests["memory"], "container") if "memory" in requests else 0
    gpu = parse_gpu(requests["nvidia.com/gpu"], "container") if "nvidia.com/gpu" in requests else 0
    return cpu, mem, gpu


def pod_requests(pod_properties: dict[str, Any]) -> tuple[float, int, int]:
    """What a pod asks of its node: the sum over containers, or the largest init container if larger."""
    cpu, mem, gpu = Decimal(0), 0, 0
    for container in pod_properties.get("containers", []):
        c, m, g = container_requests(container)
        cpu, mem, gpu = cpu + c, mem + m, gpu + g
    for container in pod_properties.get("initContainers", []):
        c, m, g = container_requests(container)
        cpu, mem, gpu = max(cpu, c), max(mem, m), max(gpu, g)
    return float(cpu), mem, gpu
