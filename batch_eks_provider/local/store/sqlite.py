"""SQLite persistence for the engine's records.

One table of JSON bodies keyed by (kind, key). The engine marks records dirty as it changes them and
writes them in one transaction per request or scheduler pass, so a restart finds everything that was
acknowledged to a client.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable

__all__ = ["Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS log_events (
    log_group TEXT NOT NULL,
    log_stream TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    ingestion_time INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_events_stream ON log_events (log_group, log_stream, timestamp);
CREATE INDEX IF NOT EXISTS log_events_ingestion ON log_events (ingestion_time);
"""


class Store:
    """A SQLite file under ``state_dir`` (or an in-memory database when ``state_dir`` is None)."""

    def __init__(self, state_dir: str | Path | None) -> None:
        if state_dir is None:
            self.path = ":memory:"
        else:
            Path(state_dir).mkdir(parents=True, exist_ok=True)
            self.path = str(Path(state_dir) / "engine.sqlite3")
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @property
    def persistent(self) -> bool:
        return self.path != ":memory:"

    def load(self, kind: str) -> list[dict[str, Any]]:
        """Every record of a kind in the order it was first written (an update keeps its row id), so
        that jobs come back in submission order and FIFO queues keep their order across a restart."""
        rows = self._db.execute("SELECT body FROM records WHERE kind = ? ORDER BY rowid", (kind,)).fetchall()
        return [json.loads(body) for (body,) in rows]

    def write(self, upserts: Iterable[tuple[str, str, dict[str, Any]]], deletes: Iterable[tuple[str, str]]) -> None:
        upserts = [(kind, key, json.dumps(body, separators=(",", ":"))) for kind, key, body in upserts]
        deletes = list(deletes)
        if not upserts and not deletes:
            return
        self._db.execute("BEGIN")
        try:
            if upserts:
                self._db.executemany(
                    "INSERT INTO records (kind, key, body) VALUES (?, ?, ?) "
                    "ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body",
                    upserts,
                )
            if deletes:
                self._db.executemany("DELETE FROM records WHERE kind = ? AND key = ?", deletes)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def append_log_events(self, rows: list[tuple[str, str, int, int, str]]) -> None:
        if rows:
            self._db.executemany("INSERT INTO log_events VALUES (?, ?, ?, ?, ?)", rows)

    def delete_log_events_before(self, ingestion_ms: int) -> int:
        """Delete the events ingested before ``ingestion_ms`` (the retention sweep); returns how many."""
        return self._db.execute("DELETE FROM log_events WHERE ingestion_time < ?", (ingestion_ms,)).rowcount

    # -- CloudWatch Logs views (read by the CloudWatch Logs API and the web page) -------------------------
    def log_groups(self) -> list[tuple[str, int, int]]:
        """Every log group holding events: ``(group, first ingestion ms, stored bytes)``."""
        return self._db.execute(
            "SELECT log_group, MIN(ingestion_time), SUM(LENGTH(message)) FROM log_events GROUP BY log_group"
        ).fetchall()

    def log_events_exist(self, group: str, stream: str | None = None) -> bool:
        """Whether the group (or one stream of it) holds any event (an index look-up, not a scan)."""
        if stream is None:
            row = self._db.execute("SELECT 1 FROM log_events WHERE log_group = ? LIMIT 1", (group,)).fetchone()
        else:
            row = self._db.execute(
                "SELECT 1 FROM log_events WHERE log_group = ? AND log_stream = ? LIMIT 1", (group, stream)
            ).fetchone()
        return row is not None

    def log_streams(self, group: str) -> list[tuple[str, int, int, int, int, int]]:
        """The streams of a group: ``(stream, first ingestion ms, first event ms, last event ms,
        last ingestion ms, stored bytes)``."""
        return self._db.execute(
            "SELECT log_stream, MIN(ingestion_time), MIN(timestamp), MAX(timestamp), MAX(ingestion_time), "
            "SUM(LENGTH(message)) FROM log_events WHERE log_group = ? GROUP BY log_stream",
            (group,),
        ).fetchall()

    def select_log_events(
        self, sql_where: str, params: tuple[Any, ...], limit: int, *, descending: bool = False
    ) -> list[tuple[int, str, int, int, str]]:
        """Events as ``(rowid, stream, timestamp, ingestion_time, message)`` in (timestamp, rowid) order
        (newest first when ``descending``); ``rowid`` makes a stable pagination cursor."""
        order = "DESC" if descending else "ASC"
        return self._db.execute(
            "SELECT rowid, log_stream, timestamp, ingestion_time, message FROM log_events "
            f"WHERE {sql_where} ORDER BY timestamp {order}, rowid {order} LIMIT ?",
            (*params, limit),
        ).fetchall()

    def close(self) -> None:
        self._db.close()
