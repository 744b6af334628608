"""The reliability suite: short by default (``make test``), bigger with ``SOAK=1`` (``make soak``).

Every scenario reports what it tried and what held through the ``reliability_report`` fixture; the lines
are printed at the end of the pytest run (and with ``-s`` as they happen), e.g.
``faults: 10 tasks, 30% faults (15% throttling, 15% 5xx), 0 lost, 0 duplicates``.
"""

from __future__ import annotations

import os
import urllib.request

import pytest

from tests.support.metrics import api_request_totals, api_requests

SOAK = os.environ.get("SOAK", "").lower() not in ("", "0", "false", "no")
_REPORT: list[str] = []


def scaled(short: int, soak: int) -> int:
    """``short`` in ``make test``, ``soak`` in ``make soak``."""
    return soak if SOAK else short


def request_count(engine_url: str, operation: str, outcome: str | None = None) -> int:
    """Batch requests the engine answered for ``operation`` (``outcome`` "ok" or an error type; None: all)."""
    return api_requests(engine_url, operation, outcome=outcome)


def request_totals(engine_url: str) -> dict[tuple[str, str], int]:
    """Every Batch request the engine answered, by (operation, outcome)."""
    return api_request_totals(engine_url)


def post_json(url: str, body: dict) -> dict:
    import json

    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


@pytest.fixture
def reliability_report():
    """Call with one line: what the scenario tried and what held."""

    def report(line: str) -> None:
        line = f"{line}{' [soak]' if SOAK else ''}"
        _REPORT.append(line)
        print(f"\nRELIABILITY {line}")

    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _REPORT:
        terminalreporter.section("reliability: what was tried and what held")
        for line in _REPORT:
            terminalreporter.write_line(line)
