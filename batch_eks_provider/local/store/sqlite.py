"""SQLite persistence for the engine's records.

One table of JSON bodies keyed by (kind, key). The engine marks records dirty as it changes them and
writes them in one transaction per request or scheduler pass, so a restart finds everything that was
acknowledged to a client.

CloudWatch log events live in two tables: ``log_streams`` (one row per group and stream, with the
stream's first/last times and stored bytes kept up to date on insert, so DescribeLogStreams never
aggregates events) and ``log_stream_events``, clustered by ``(stream_id, seq)`` (``WITHOUT ROWID``: no
second index, no repeated stream names), ``seq`` a global counter in ingestion order, the time kept as
milliseconds after the stream's ``base_ms`` (two or three bytes instead of six). An event's
timestamp is its ingestion time, so ``seq`` order is time order. Batches are inserted in one transaction.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from concurrent.futures import Future
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
CREATE TABLE IF NOT EXISTS log_streams (
    id INTEGER PRIMARY KEY,
    log_group TEXT NOT NULL,
    log_stream TEXT NOT NULL,
    first_ingestion INTEGER NOT NULL,
    first_event INTEGER NOT NULL,
    last_event INTEGER NOT NULL,
    last_ingestion INTEGER NOT NULL,
    stored_bytes INTEGER NOT NULL,
    base_ms INTEGER NOT NULL,
    UNIQUE (log_group, log_stream)
);
CREATE TABLE IF NOT EXISTS log_stream_events (
    stream_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    offset_ms INTEGER NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (stream_id, seq)
) WITHOUT ROWID;
CREATE VIEW IF NOT EXISTS log_events_view AS
    SELECT e.seq AS rowid, s.log_group AS log_group, s.log_stream AS log_stream,
           s.base_ms + e.offset_ms AS timestamp, s.base_ms + e.offset_ms AS ingestion_time, e.message AS message
    FROM log_stream_events e JOIN log_streams s ON s.id = e.stream_id;
"""


# batches (of up to 20,000 events) handed to the writer and not yet written; a full queue makes the loop wait:
# 24 lets the loop run ahead of a slow disk by ~25 MB of output before the API feels it
_LOG_QUEUE_BATCHES = 24


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
        self._db.execute("PRAGMA journal_size_limit=1048576")  # the WAL shrinks back to 1 MiB after a checkpoint
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        self._log_db = self._db  # where log events are written: a connection of the writer thread when on disk
        self._log_queue: queue.Queue | None = None
        self._log_thread: threading.Thread | None = None
        self._init_log_tables()
        if self.persistent:
            self._start_log_writer()

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

    def _init_log_tables(self) -> None:
        streams = self._db.execute("SELECT id, log_group, log_stream, base_ms FROM log_streams").fetchall()
        self._stream_ids = {(group, stream): sid for sid, group, stream, _ in streams}
        self._stream_base = {sid: base for sid, _, _, base in streams}  # an event stores its ms after this
        self._next_seq = (self._db.execute("SELECT MAX(seq) FROM log_stream_events").fetchone()[0] or 0) + 1
        columns = [row[1] for row in self._db.execute("PRAGMA table_info(log_events)")]
        if "log_group" in columns:  # the schema before streams had their own table: move the events over
            rows = self._db.execute(
                "SELECT log_group, log_stream, timestamp, message FROM log_events ORDER BY rowid"
            ).fetchall()
            self.append_log_events([(g, st, ts, ts, m) for g, st, ts, m in rows])
            self._db.execute("DROP TABLE log_events")

    def stored_log_bytes(self) -> int:
        """The message bytes (UTF-8) of every stored event."""
        self.sync_logs()
        return int(self._db.execute("SELECT COALESCE(SUM(stored_bytes), 0) FROM log_streams").fetchone()[0])

    def append_log_events(self, rows: list[tuple[str, str, int, int, str]]) -> None:
        """Insert ``(group, stream, timestamp ms, ingestion ms, message)`` rows in one transaction."""
        self.append_log_chunks([(group, stream, ts, [message]) for group, stream, ts, _, message in rows])

    # -- the log writer: log events are written on a thread of their own, so the event loop never waits on
    # -- a large insert; every read of log events first waits for what was handed over (``sync_logs``)
    def _start_log_writer(self) -> None:
        self._log_db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._log_db.execute("PRAGMA synchronous=NORMAL")
        self._log_db.execute("PRAGMA busy_timeout=10000")
        self._log_queue = queue.Queue(maxsize=_LOG_QUEUE_BATCHES)
        self._log_thread = threading.Thread(target=self._log_writer, name="log-writer", daemon=True)
        self._log_thread.start()

    def _log_writer(self) -> None:
        assert self._log_queue is not None
        while True:
            item = self._log_queue.get()
            try:
                if item is None:
                    return
                fn, args, future = item
                try:
                    future.set_result(fn(*args))
                except BaseException as e:  # noqa: BLE001 - handed to whoever waits on it
                    future.set_exception(e)
            finally:
                self._log_queue.task_done()

    def _submit(self, fn, *args) -> Future:
        future: Future = Future()
        if self._log_queue is None:
            try:
                future.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001
                future.set_exception(e)
        else:
            self._log_queue.put((fn, args, future))
        return future

    def sync_logs(self) -> None:
        """Wait until every log write handed over so far is committed."""
        if self._log_queue is not None:
            self._log_queue.join()

    def append_log_chunks(self, chunks: list[tuple[str, str, int, list[str]]]) -> None:
        """Insert ``(group, stream, timestamp ms, messages)`` chunks (each message one event, all at that
        timestamp) in one transaction, on the writer thread when there is one."""
        if chunks:
            self._submit(self._write_chunks, chunks)

    def delete_log_events_before(self, ingestion_ms: int) -> int:
        """Delete the events ingested before ``ingestion_ms`` (the retention sweep); returns how many."""
        return self._submit(self._delete_before, ingestion_ms).result()

    def _stream_id(self, group: str, stream: str, ts: int) -> int:
        sid = self._stream_ids.get((group, stream))
        if sid is None:
            sid = self._log_db.execute(
                "INSERT INTO log_streams (log_group, log_stream, first_ingestion, first_event, last_event, "
                "last_ingestion, stored_bytes, base_ms) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                (group, stream, ts, ts, ts, ts, ts),
            ).lastrowid
            self._stream_ids[(group, stream)] = sid
            self._stream_base[sid] = ts
        return sid

    def _write_chunks(self, chunks: list[tuple[str, str, int, list[str]]]) -> None:
        """Insert ``(group, stream, timestamp ms, messages)`` chunks (each message one event, all at that
        timestamp) in one transaction."""
        if not chunks:
            return
        stats: dict[int, list[int]] = {}  # stream id -> [first ts, last ts, bytes]
        seq = self._next_seq
        self._log_db.execute("BEGIN")
        try:
            for group, stream, ts, messages in chunks:
                sid = self._stream_id(group, stream, ts)
                # one statement per chunk, its lines as one JSON array: SQLite does the per-row work without
                # the GIL, so the event loop keeps running while the writer thread inserts
                self._log_db.execute(
                    "INSERT INTO log_stream_events SELECT ?, ? + key, ?, value FROM json_each(?)",
                    (sid, seq, ts - self._stream_base[sid], json.dumps(messages)),
                )
                seq += len(messages)
                joined = "".join(messages)
                size = len(joined) if joined.isascii() else len(joined.encode("utf-8", "replace"))
                stat = stats.get(sid)
                if stat is None:
                    stats[sid] = [ts, ts, size]
                else:
                    stat[1] = ts
                    stat[2] += size
            self._log_db.executemany(
                "UPDATE log_streams SET first_event = MIN(first_event, ?), last_event = MAX(last_event, ?), "
                "last_ingestion = MAX(last_ingestion, ?), stored_bytes = stored_bytes + ? WHERE id = ?",
                [(first, last, last, size, sid) for sid, (first, last, size) in stats.items()],
            )
            self._log_db.execute("COMMIT")
        except BaseException:
            self._log_db.execute("ROLLBACK")
            raise
        self._next_seq = seq

    def _delete_before(self, ingestion_ms: int) -> int:
        """Delete the events ingested before ``ingestion_ms`` (the retention sweep); returns how many.
        Only streams that hold such events are visited."""
        old = self._log_db.execute("SELECT id FROM log_streams WHERE first_ingestion < ?", (ingestion_ms,)).fetchall()
        deleted = 0
        for (sid,) in old:
            self._log_db.execute("BEGIN")
            deleted += self._log_db.execute(
                "DELETE FROM log_stream_events WHERE stream_id = ? AND offset_ms < ?",
                (sid, ingestion_ms - self._stream_base[sid]),
            ).rowcount
            first, size = self._log_db.execute(
                "SELECT MIN(offset_ms) + ?, SUM(LENGTH(CAST(message AS BLOB))) FROM log_stream_events WHERE stream_id = ?",
                (self._stream_base[sid], sid),
            ).fetchone()
            if first is None:
                self._log_db.execute("DELETE FROM log_streams WHERE id = ?", (sid,))
                self._stream_ids = {k: v for k, v in self._stream_ids.items() if v != sid}
            else:
                self._log_db.execute(
                    "UPDATE log_streams SET first_ingestion = ?, first_event = ?, stored_bytes = ? WHERE id = ?",
                    (first, first, size, sid),
                )
            self._log_db.execute("COMMIT")
        return deleted

    # -- CloudWatch Logs views (read by the CloudWatch Logs API and the web page) -------------------------
    def log_groups(self) -> list[tuple[str, int, int]]:
        """Every log group holding events: ``(group, first ingestion ms, stored bytes)``."""
        self.sync_logs()
        return self._db.execute(
            "SELECT log_group, MIN(first_ingestion), SUM(stored_bytes) FROM log_streams GROUP BY log_group"
        ).fetchall()

    def log_events_exist(self, group: str, stream: str | None = None) -> bool:
        """Whether the group (or one stream of it) holds any event (an index look-up, not a scan)."""
        self.sync_logs()
        if stream is None:
            row = self._db.execute("SELECT 1 FROM log_streams WHERE log_group = ? LIMIT 1", (group,)).fetchone()
        else:
            row = self._db.execute(
                "SELECT 1 FROM log_streams WHERE log_group = ? AND log_stream = ? LIMIT 1", (group, stream)
            ).fetchone()
        return row is not None

    def log_streams(self, group: str) -> list[tuple[str, int, int, int, int, int]]:
        """The streams of a group: ``(stream, first ingestion ms, first event ms, last event ms,
        last ingestion ms, stored bytes)``."""
        self.sync_logs()
        return self._db.execute(
            "SELECT log_stream, first_ingestion, first_event, last_event, last_ingestion, stored_bytes "
            "FROM log_streams WHERE log_group = ?",
            (group,),
        ).fetchall()

    def select_log_events(
        self, sql_where: str, params: tuple[Any, ...], limit: int, *, descending: bool = False
    ) -> list[tuple[int, str, int, int, str]]:
        """Events as ``(rowid, stream, timestamp, ingestion_time, message)`` in ``rowid`` (ingestion, hence
        time) order, newest first when ``descending``; ``rowid`` makes a stable pagination cursor.
        ``sql_where`` may name ``log_group``, ``log_stream``, ``timestamp``, ``message`` and ``rowid``."""
        self.sync_logs()
        order = "DESC" if descending else "ASC"
        return self._db.execute(
            "SELECT rowid, log_stream, timestamp, ingestion_time, message FROM log_events_view "
            f"WHERE {sql_where} ORDER BY rowid {order} LIMIT ?",
            (*params, limit),
        ).fetchall()

    def close(self) -> None:
        if self._log_queue is not None and self._log_thread is not None:
            self._log_queue.put(None)
            self._log_thread.join()
            self._log_queue = None
            self._log_db.close()
        self._db.close()
