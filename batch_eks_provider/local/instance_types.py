"""EC2 instance types the simulated compute environments can launch: vCPUs, memory and GPUs.

Allocatable memory is what kubelet leaves for pods on an EKS-optimized AMI (roughly: the instance's
memory less the kube-reserved and eviction thresholds), so a job asking for the full instance memory stays
RUNNABLE as it would on AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["InstanceType", "INSTANCE_TYPES", "resolve_instance_types"]


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_mib: int
    gpus: int = 0

    @property
    def allocatable_memory_mib(self) -> int:
        # kube-reserved (255Mi + 11Mi per max pod, ~29 pods on small types) + 100Mi eviction threshold.
        return self.memory_mib - (255 + 11 * 29 + 100)


def _family(prefix: str, mem_per_vcpu_gib: int, sizes: dict[str, int]) -> dict[str, InstanceType]:
    return {
        f"{prefix}.{size}": InstanceType(f"{prefix}.{size}", vcpus, vcpus * mem_per_vcpu_gib * 1024)
        for size, vcpus in sizes.items()
    }


_SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48, "16xlarge": 64}

INSTANCE_TYPES: dict[str, InstanceType] = {
    **_family("m5", 4, _SIZES),
    **_family("m6i", 4, _SIZES),
    **_family("m7i", 4, _SIZES),
    **_family("c5", 2, _SIZES),
    **_family("c6i", 2, _SIZES),
    **_family("r5", 8, _SIZES),
    **_family("r6i", 8, _SIZES),
    "g4dn.xlarge": InstanceType("g4dn.xlarge", 4, 16384, 1),
    "g4dn.2xlarge": InstanceType("g4dn.2xlarge", 8, 32768, 1),
    "g4dn.12xlarge": InstanceType("g4dn.12xlarge", 48, 196608, 4),
    "g5.xlarge": InstanceType("g5.xlarge", 4, 16384, 1),
    "g5.12xlarge": InstanceType("g5.12xlarge", 48, 196608, 4),
    "p3.2xlarge": InstanceType("p3.2xlarge", 8, 62464, 1),
    "p3.8xlarge": InstanceType("p3.8xlarge", 32, 249856, 4),
}

# Instance families that stand for every size they contain, as Batch accepts them in instanceTypes.
_FAMILY_NAMES = {name.split(".")[0] for name in INSTANCE_TYPES}
_OPTIMAL = ["m5", "c5", "r5"]


def resolve_instance_types(names: list[str]) -> list[InstanceType]:
    """Expand ``instanceTypes`` (types, families such as ``m5``, or ``optimal``) into instance types,
    smallest first. Unknown names raise ``KeyError`` naming the first one."""
    return list(_resolve(tuple(names or ["optimal"])))


@lru_cache(maxsize=256)
def _resolve(names: tuple[str, ...]) -> tuple[InstanceType, ...]:
    result: dict[str, InstanceType] = {}
    for name in names or ["optimal"]:
        families = _OPTIMAL if name == "optimal" else [name] if name in _FAMILY_NAMES else None
        if families:
            for itype in INSTANCE_TYPES.values():
                if itype.name.split(".")[0] in families:
                    result[itype.name] = itype
        elif name in INSTANCE_TYPES:
            result[name] = INSTANCE_TYPES[name]
        else:
            raise KeyError(name)
    return tuple(sorted(result.values(), key=lambda t: (t.vcpus, t.memory_mib, t.name)))
