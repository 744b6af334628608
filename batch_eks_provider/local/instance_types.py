"""The instance types the simulated compute environments launch: the provider's catalogue
(:mod:`batch_eks_provider.instance_types`), so that the provider's "can this job ever fit" check and the
engine's placement read the same vCPUs, memory and GPUs.

The engine places pods by :attr:`InstanceType.allocatable_memory_mib` (what kubelet leaves for pods on an
EKS-optimized AMI), so a job asking for the full instance memory stays RUNNABLE as it would on AWS. Unlike the
provider, which lets unknown names pass, the engine refuses a compute environment naming a type it cannot
launch.
"""

from __future__ import annotations

from functools import lru_cache

from ..instance_types import CATALOGUE, InstanceType, expand

__all__ = ["InstanceType", "INSTANCE_TYPES", "resolve_instance_types", "kubernetes_arch"]

INSTANCE_TYPES: dict[str, InstanceType] = CATALOGUE


def kubernetes_arch(itype: InstanceType | None) -> str:
    """The ``kubernetes.io/arch`` label value of a node of that type (``amd64`` or ``arm64``)."""
    return "arm64" if itype is not None and itype.architecture == "arm64" else "amd64"


def resolve_instance_types(names: list[str]) -> list[InstanceType]:
    """Expand ``instanceTypes`` (types, families such as ``m5``, ``optimal``, ``default_x86_64``,
    ``default_arm64``) into instance types, smallest first. Unknown names raise ``KeyError`` naming the first."""
    return list(_resolve(tuple(names or ["optimal"])))


@lru_cache(maxsize=256)
def _resolve(names: tuple[str, ...]) -> tuple[InstanceType, ...]:
    known, unknown = expand(names)
    if unknown:
        raise KeyError(unknown[0])
    return tuple(known)
