"""The pod sandbox image: a container that holds the pod's network and IPC namespaces and does nothing.

Kubelet starts a ``pause`` container first and joins every container of the pod to its namespaces; the
docker runtime does the same. No registry can be assumed reachable, so the image is made here: a rootfs with
one static ELF executable of a few instructions (block in a system call, for ever), imported into the
daemon with ``docker import``. The binary is written for the daemon's architecture (x86_64 or aarch64).
"""

from __future__ import annotations

import io
import struct
import tarfile

__all__ = ["PAUSE_IMAGE", "pause_binary", "pause_rootfs_tar", "UnsupportedArchitecture"]

PAUSE_IMAGE = "batch-eks-local/pause:1"

_LOAD_ADDRESS = 0x400000
_HEADER_SIZE = 64 + 56  # ELF header + one program header

# x86_64: loop: mov eax, 34 (pause); syscall; jmp loop
_X86_64 = bytes.fromhex("b822000000" "0f05" "ebf7")
# aarch64: loop: x0..x3 = 0; x8 = 73 (ppoll); svc #0; b loop  (ppoll(NULL, 0, NULL, NULL) blocks for ever)
_AARCH64 = b"".join(
    struct.pack("<I", word)
    for word in (0xD2800000, 0xD2800001, 0xD2800002, 0xD2800003, 0xD2800928, 0xD4000001, 0x17FFFFFA)
)
_MACHINES = {"x86_64": (62, _X86_64), "amd64": (62, _X86_64), "aarch64": (183, _AARCH64), "arm64": (183, _AARCH64)}


class UnsupportedArchitecture(ValueError):
    """The daemon's architecture has no sandbox binary here."""


def pause_binary(architecture: str) -> bytes:
    """A static ELF64 executable that blocks for ever, for ``architecture`` (``uname -m`` or Go's name)."""
    try:
        machine, code = _MACHINES[architecture]
    except KeyError:
        raise UnsupportedArchitecture(
            f"Unsupported Docker daemon architecture {architecture!r}: the pod sandbox is built for "
            f"{', '.join(sorted(_MACHINES))}."
        ) from None
    entry = _LOAD_ADDRESS + _HEADER_SIZE
    size = _HEADER_SIZE + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little endian, version 1, System V
    header = ident + struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, entry, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    program = struct.pack("<IIQQQQQQ", 1, 5, 0, _LOAD_ADDRESS, _LOAD_ADDRESS, size, size, 0x1000)  # PT_LOAD, R+X
    return header + program + code


def pause_rootfs_tar(architecture: str) -> bytes:
    """The sandbox image's rootfs as a tar archive: ``/pause`` and nothing else."""
    binary = pause_binary(architecture)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("pause")
        info.size = len(binary)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(binary))
    return buffer.getvalue()
