"""A small static catalogue of EC2 instance types (vCPUs, memory, GPUs) for "can this job ever fit?" checks.

The provider does not call EC2 DescribeInstanceTypes: that needs another permission and a call per check.
This catalogue covers the common families used with AWS Batch on EKS and is the only one in the project: the
local engine launches its simulated nodes from it (``batch_eks_provider.local.instance_types``), so the
provider's "can this job ever fit" check and the engine's placement agree. A compute environment naming a type
or family it does not know is treated as *unknown* and never blocks a job (the check only rejects what is
certain to never run).

Allocatable memory follows what kubelet leaves for pods on an EKS-optimized AMI: the instance memory less
kube-reserved (255 MiB + 11 MiB per pod for at least 29 pods) and the 100 MiB eviction threshold. Larger
instances reserve more, so this is an upper bound of what a pod may request: never a false rejection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

__all__ = ["InstanceType", "CATALOGUE", "OPTIMAL_FAMILIES", "ARM64_FAMILIES", "lookup", "expand"]

_KUBE_RESERVED_MIB = 255 + 11 * 29 + 100


@dataclass(frozen=True)
class InstanceType:
    """One EC2 instance type: ``vcpus``, ``memory_mib`` (total) and NVIDIA ``gpus``."""

    name: str
    vcpus: int
    memory_mib: int
    gpus: int = 0

    @property
    def family(self) -> str:
        return self.name.split(".")[0]

    @property
    def architecture(self) -> str:
        """``arm64`` for Graviton families, else ``x86_64``."""
        return "arm64" if self.family in ARM64_FAMILIES else "x86_64"

    @property
    def allocatable_memory_mib(self) -> int:
        """Memory a pod may request on this instance (at most; see the module docstring)."""
        return self.memory_mib - _KUBE_RESERVED_MIB


_GIB = 1024
_STANDARD = {
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "12xlarge": 48,
    "16xlarge": 64,
    "24xlarge": 96,
}
_SIXTH_GEN = {**_STANDARD, "32xlarge": 128}
_SEVENTH_GEN = {**_SIXTH_GEN, "48xlarge": 192}
_C5 = {
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "9xlarge": 36,
    "12xlarge": 48,
    "18xlarge": 72,
    "24xlarge": 96,
}
_GRAVITON = {
    "medium": 1,
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "12xlarge": 48,
    "16xlarge": 64,
}


def _family(prefix: str, gib_per_vcpu: int, sizes: dict[str, int]) -> dict[str, InstanceType]:
    return {
        f"{prefix}.{s}": InstanceType(f"{prefix}.{s}", v, v * gib_per_vcpu * _GIB) for s, v in sizes.items()
    }


def _gpu(prefix: str, rows: Iterable[tuple[str, int, int, int]]) -> dict[str, InstanceType]:
    return {f"{prefix}.{s}": InstanceType(f"{prefix}.{s}", v, gib * _GIB, g) for s, v, gib, g in rows}


CATALOGUE: dict[str, InstanceType] = {
    **_family("m5", 4, _STANDARD),
    **_family("m6i", 4, _SIXTH_GEN),
    **_family("m7i", 4, _SEVENTH_GEN),
    **_family("c5", 2, _C5),
    **_family("c6i", 2, _SIXTH_GEN),
    **_family("c7i", 2, _SEVENTH_GEN),
    **_family("r5", 8, _STANDARD),
    **_family("r6i", 8, _SIXTH_GEN),
    **_family("r7i", 8, _SEVENTH_GEN),
    **_family("m6g", 4, _GRAVITON),
    **_family("c6g", 2, _GRAVITON),
    **_family("r6g", 8, _GRAVITON),
    **_gpu(
        "g4dn",
        [
            ("xlarge", 4, 16, 1),
            ("2xlarge", 8, 32, 1),
            ("4xlarge", 16, 64, 1),
            ("8xlarge", 32, 128, 1),
            ("12xlarge", 48, 192, 4),
            ("16xlarge", 64, 256, 1),
        ],
    ),
    **_gpu(
        "g5",
        [
            ("xlarge", 4, 16, 1),
            ("2xlarge", 8, 32, 1),
            ("4xlarge", 16, 64, 1),
            ("8xlarge", 32, 128, 1),
            ("12xlarge", 48, 192, 4),
            ("16xlarge", 64, 256, 1),
            ("24xlarge", 96, 384, 4),
            ("48xlarge", 192, 768, 8),
        ],
    ),
    **_gpu("p3", [("2xlarge", 8, 61, 1), ("8xlarge", 32, 244, 4), ("16xlarge", 64, 488, 8)]),
    **_gpu("p4d", [("24xlarge", 96, 1152, 8)]),
}

_FAMILIES = {name.split(".")[0] for name in CATALOGUE}
ARM64_FAMILIES = ("m6g", "c6g", "r6g")
OPTIMAL_FAMILIES = ("m5", "c5", "r5")
"""What ``optimal`` / ``default_x86_64`` stand for here (Batch picks from current C, M and R families)."""
_ALIASES = {
    "optimal": OPTIMAL_FAMILIES,
    "default_x86_64": OPTIMAL_FAMILIES,
    "default_arm64": ARM64_FAMILIES,
}


def lookup(name: str) -> InstanceType | None:
    """The catalogue entry for one instance type name, or ``None`` if it is not catalogued."""
    return CATALOGUE.get(name)


def expand(names: Iterable[str]) -> tuple[list[InstanceType], list[str]]:
    """Expand a compute environment's ``instanceTypes`` (types, families, ``optimal``) into known types.

    :return: ``(known types, smallest first; names this catalogue does not know)``.
    """
    known: dict[str, InstanceType] = {}
    unknown: list[str] = []
    for name in list(names) or ["optimal"]:
        families = _ALIASES.get(name) or ((name,) if name in _FAMILIES else None)
        if families:
            known.update({t.name: t for t in CATALOGUE.values() if t.name.split(".")[0] in families})
        elif name in CATALOGUE:
            known[name] = CATALOGUE[name]
        else:
            unknown.append(name)
    return sorted(known.values(), key=lambda t: (t.vcpus, t.memory_mib, t.gpus, t.name)), unknown
