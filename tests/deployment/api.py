"""A small client of Airflow's REST API v2 for the deployment tests, with a real token from ``POST /auth/token``.

It does what the UI does: trigger a run with a conf (the DAG's Params), read runs and task instances, clear a
task, mark one failed, read a task try's log. Every wait has a bound and names what it waited for.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import httpx

__all__ = ["TERMINAL_RUN_STATES", "AirflowApi", "wait_until"]

TERMINAL_RUN_STATES = frozenset({"success", "failed"})


class AirflowApi:
    """Airflow's ``/api/v2`` at ``base_url``, signed in as ``username`` with the simple auth manager."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=120)
        response = self._client.post("/auth/token", json={"username": username, "password": password})
        if response.status_code not in (200, 201):
            raise RuntimeError(f"POST /auth/token as {username!r} answered {response.status_code}: {response.text[:300]}")
        self._client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._client.request(method, "/api/v2" + path, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} /api/v2{path} answered {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    # DAGs and runs
    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self.request("GET", "/dags", params={"limit": 200})["dags"]}

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(
        self, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None, logical_date: str | None = None
    ) -> str:
        """A manual run (no logical date unless given, as the UI's trigger form leaves it)."""
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self.request(
                "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100, "offset": len(found)}
            )
            found.extend(page["task_instances"])
            if len(found) >= page["total_entries"] or not page["task_instances"]:
                return found

    def clear_task(self, dag_id: str, run_id: str, task_id: str, include_downstream: bool = False) -> None:
        """Clear one task of a run as the UI's Clear does (its downstream tasks too if asked)."""
        self.request(
            "POST", f"/dags/{dag_id}/clearTaskInstances",
            json={"dry_run": False, "dag_run_id": run_id, "task_ids": [task_id], "only_failed": False,
                  "reset_dag_runs": True, "include_downstream": include_downstream},
        )

    def event_logs(self, dag_id: str, run_id: str, event: str) -> list[dict[str, Any]]:
        """The audit log's entries named ``event`` for one run (what the UI's Audit Log shows)."""
        return self.request(
            "GET", "/eventLogs", params={"dag_id": dag_id, "run_id": run_id, "event": event, "limit": 100}
        )["event_logs"]

    def mark_failed(self, dag_id: str, run_id: str, task_id: str) -> None:
        self.request("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}", json={"new_state": "failed"})

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """The log of one try as text (the API's structured lines joined)."""
        response = self._client.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"map_index": map_index, "full_content": True}, headers={"Accept": "application/json"},
        )
        if response.status_code >= 400:
            raise RuntimeError(f"task log {dag_id}/{run_id}/{task_id}#{try_number} answered {response.status_code}")
        content = response.json().get("content")
        if isinstance(content, str):
            return content
        return "\n".join(
            " ".join(str(part) for part in (line.get("timestamp", ""), line.get("event", "")) if part)
            if isinstance(line, dict) else str(line)
            for line in content or []
        )

    # waits
    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """The run once it is success or failed; TimeoutError naming its task states after ``timeout`` s."""
        def finished() -> dict[str, Any] | None:
            run = self.run(dag_id, run_id)
            return run if run["state"] in TERMINAL_RUN_STATES else None

        return wait_until(finished, timeout, lambda: f"run {dag_id}/{run_id}: {self.state_counts(dag_id, run_id)}")

    def state_counts(self, dag_id: str, run_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for ti in self.task_instances(dag_id, run_id):
            counts[str(ti["state"])] = counts.get(str(ti["state"]), 0) + 1
        return counts


def wait_until(check: Callable[[], Any], timeout: float, describe: Callable[[], str], interval: float = 0.5) -> Any:
    """Call ``check`` until it returns something truthy, up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {timeout:.0f}s: {describe()}")
        time.sleep(interval)
