"""Helpers of the provider suites (tests/provider/**): connections, admin calls, XCom and task states of a
``dag.test()`` run, and a gated sleep that lets a test step the trigger's poll loop cycle by cycle."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

__all__ = [
    "BOUND",
    "Gate",
    "advance_clock",
    "aws_connection_json",
    "post_admin",
    "task_states",
    "try_numbers",
    "xcom",
]

BOUND = 30
"""Seconds: a safety bound on each wait of a test, never a timing assertion."""


def aws_connection_json(engine_url: str, **extra: object) -> str:
    """An Airflow AWS connection (JSON form) pointing at the engine, with more ``extra`` fields."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": engine_url, "region_name": "us-east-1", **extra},
        }
    )


def post_admin(engine_url: str, path: str, body: dict) -> dict:
    """POST a JSON body to one of the engine's ``/_local`` admin routes; return its JSON answer."""
    request = urllib.request.Request(
        f"{engine_url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def advance_clock(engine: Any, seconds: float) -> None:
    """Move the engine's ManualClock forward."""
    post_admin(engine.url, "/_local/clock/advance", {"seconds": seconds})


def xcom(run: Any, task_id: str, key: str = "return_value") -> Any:
    """The XCom ``key`` of ``task_id`` in a finished ``dag.test()`` run (None when absent)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=run.run_id, key=key, task_ids=task_id, dag_ids=run.dag_id)).first()
        return XComModel.deserialize_value(row) if row is not None else None


def task_states(run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def try_numbers(run: Any) -> dict[str, int]:
    return {ti.task_id: ti.try_number for ti in run.get_task_instances()}


class Gate:
    """A stand-in for ``asyncio.sleep``: records the delay and waits until the test opens the gate."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._open: asyncio.Queue = asyncio.Queue()

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await self._open.get()

    def open(self, cycles: int = 1) -> None:
        for _ in range(cycles):
            self._open.put_nowait(None)

    async def asleep(self, times: int) -> None:
        """Wait until the loop has gone to sleep ``times`` times in all."""

        async def reached() -> None:
            while len(self.delays) < times:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(reached(), BOUND)
