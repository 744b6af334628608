"""Debian's headless Chromium for tests that act as a person's browser (Playwright drives it).

Playwright's own browser downloads are never used (no registry but the package ones is reachable): the
``chromium`` fixture installs Debian's ``chromium`` with apt-get when it is missing and we are root, and
fails loudly when it cannot be had; it never skips silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "chromium"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium; installed with apt-get when missing. Fails loudly when it cannot be had."""
    if not os.path.exists(CHROMIUM):
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.fail(f"{CHROMIUM} is missing and cannot be installed here (run: apt-get install -y chromium as root)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
            if result.returncode != 0:
                pytest.fail(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr[-2000:]}")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} still missing after apt-get install chromium")
    return CHROMIUM
