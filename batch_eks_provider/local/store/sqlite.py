"""SQLite persistence for the engine's records.

One table of JSON bodies keyed by (kind, key). The engine marks records dirty as it changes them and
writes them in one transaction per request or scheduler pass, so a restart finds everything that was
acknowledged to a client.

CloudWatch log events live in two tables: ``log_streams`` (one row per group and stream, with the
stream's first/last times, stored bytes and the Kubernetes metadata of its Fluent Bit records, kept up
to date on insert, so DescribeLogStreams never aggregates events) and ``log_chunks``: one row per chunk
of consecutive events of one stream that share a timestamp (what one read of a container's pipe gave),
their messages joined by ``\n`` (a message never holds one), all written to one output stream of the
container (``source``: NULL for stdout, ``'stderr'``; a database from before the column reads as stdout).
Events are numbered by ``seq``, a global
counter in ingestion order; a chunk's row id is the ``seq`` of its last event, so a chunk holds events
``last_seq - events + 1 .. last_seq``; its time is kept as milliseconds after the stream's ``base_ms``.
An event's timestamp is its ingestion time, so ``seq`` order is time order. One row per chunk instead of
per line: no per-row overhead for a chatty job (a million 50-byte lines take about 1.05x their bytes).

Log events are written by a thread of its own with its own connection; :meth:`Store.append_log_chunks`
never blocks. :attr:`Store.log_backlog_bytes` says how much was handed over and is not written yet, and
:attr:`Store.on_log_written` (called on the writer thread after each write) lets the caller pause its
producers while the writer is behind (see :class:`~.logs.LogStore`).
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

__all__ = ["Store", "MAX_CHUNK_EVENTS"]

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
    output_bytes INTEGER NOT NULL DEFAULT 0,
    kubernetes TEXT,
    UNIQUE (log_group, log_stream)
);
CREATE TABLE IF NOT EXISTS log_chunks (
    last_seq INTEGER PRIMARY KEY,
    stream_id INTEGER NOT NULL,
    events INTEGER NOT NULL,
    offset_ms INTEGER NOT NULL,
    stored INTEGER NOT NULL,
    partial TEXT,
    text TEXT NOT NULL,
    source TEXT
);
CREATE INDEX IF NOT EXISTS log_chunks_by_stream ON log_chunks (stream_id, last_seq);
DROP VIEW IF EXISTS log_events_view;
"""

MAX_CHUNK_EVENTS = 16384
"""Events in one chunk row at most (a backward read finds its chunk by ``last_seq`` within this range)."""


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
        self._backlog_lock = threading.Lock()
        self.log_backlog_bytes = 0  # text handed to the writer and not written yet
        self.on_log_written: Callable[[], None] | None = None  # called on the writer thread after each write
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

    # -- CloudWatch log events: tables, migration -------------------------------------------------------
    def _init_log_tables(self) -> None:
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(log_streams)")}
        if "output_bytes" not in columns:  # streams of an engine before Fluent Bit records
            self._db.execute("ALTER TABLE log_streams ADD COLUMN output_bytes INTEGER NOT NULL DEFAULT 0")
            self._db.execute("UPDATE log_streams SET output_bytes = stored_bytes")
        if "kubernetes" not in columns:
            self._db.execute("ALTER TABLE log_streams ADD COLUMN kubernetes TEXT")
        if "source" not in {row[1] for row in self._db.execute("PRAGMA table_info(log_chunks)")}:
            self._db.execute("ALTER TABLE log_chunks ADD COLUMN source TEXT")  # older chunks: stdout (NULL)
        streams = self._db.execute("SELECT id, log_group, log_stream, base_ms FROM log_streams").fetchall()
        self._stream_ids = {(group, stream): sid for sid, group, stream, _ in streams}
        self._stream_base = {sid: base for sid, _, _, base in streams}  # a chunk stores its ms after this
        self._next_seq = (self._db.execute("SELECT MAX(last_seq) FROM log_chunks").fetchone()[0] or 0) + 1
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "log_stream_events" in tables:  # one row per event (before chunks): move them into chunks
            self._migrate_event_rows()
        if "log_events" in tables:  # the schema before streams had their own table
            rows = self._db.execute(
                "SELECT log_group, log_stream, timestamp, message FROM log_events ORDER BY rowid"
            ).fetchall()
            self.append_log_events([(g, st, ts, ts, m) for g, st, ts, m in rows])
            self._db.execute("DROP TABLE log_events")

    def _migrate_event_rows(self) -> None:
        rows = self._db.execute(
            "SELECT e.stream_id, e.offset_ms, e.message, s.log_group, s.log_stream, s.base_ms "
            "FROM log_stream_events e JOIN log_streams s ON s.id = e.stream_id ORDER BY e.seq"
        ).fetchall()
        self._db.execute("UPDATE log_streams SET stored_bytes = 0, output_bytes = 0")
        chunks: list[tuple] = []
        for sid, offset, message, group, stream, base in rows:
            last = chunks[-1] if chunks else None
            if last is not None and last[0] == sid and last[1] == offset and len(last[2]) < MAX_CHUNK_EVENTS:
                last[2].append(message)
            else:
                chunks.append((sid, offset, [message], group, stream, base))
        self._write_chunks([
            (group, stream, base + offset, "\n".join(ms), len(ms), _utf8_len("".join(ms)),
             _utf8_len("".join(ms)), None, None, None)
            for _, offset, ms, group, stream, base in chunks
        ])  # fmt: skip
        self._db.execute("DROP TABLE log_stream_events")

    def stored_log_bytes(self) -> int:
        """The output bytes (UTF-8 message text, without the Fluent Bit record around it) of every stored event."""
        self.sync_logs()
        return int(self._db.execute("SELECT COALESCE(SUM(output_bytes), 0) FROM log_streams").fetchone()[0])

    def append_log_events(self, rows: list[tuple[str, str, int, int, str]]) -> None:
        """Insert ``(group, stream, timestamp ms, ingestion ms, message)`` plain-line events, one chunk each."""
        self.append_log_chunks(
            [(g, st, ts, m, 1, _utf8_len(m), _utf8_len(m), None, None, None) for g, st, ts, _, m in rows]
        )

    # -- the log writer: log events are written on a thread of their own, so the event loop never waits on
    # -- an insert; every read of log events first waits for what was handed over (``sync_logs``)
    def _start_log_writer(self) -> None:
        self._log_db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._log_db.execute("PRAGMA synchronous=NORMAL")
        self._log_db.execute("PRAGMA busy_timeout=10000")
        self._log_queue = queue.Queue()  # unbounded: the producer is paused by its own backlog check
        self._log_thread = threading.Thread(target=self._log_writer, name="log-writer", daemon=True)
        self._log_thread.start()

    def _log_writer(self) -> None:
        assert self._log_queue is not None
        while True:
            item = self._log_queue.get()
            try:
                if item is None:
                    return
                fn, args, future, size = item
                try:
                    future.set_result(fn(*args))
                except BaseException as e:  # noqa: BLE001 - handed to whoever waits on it
                    future.set_exception(e)
                self._written(size)
            finally:
                self._log_queue.task_done()

    def _written(self, size: int) -> None:
        with self._backlog_lock:
            self.log_backlog_bytes -= size
        callback = self.on_log_written
        if callback is not None:
            callback()

    def _submit(self, fn, *args, size: int = 0) -> Future:
        future: Future = Future()
        with self._backlog_lock:
            self.log_backlog_bytes += size
        if self._log_queue is None:
            try:
                future.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001
                future.set_exception(e)
            self._written(size)
        else:
            self._log_queue.put((fn, args, future, size))
        return future

    def sync_logs(self) -> None:
        """Wait until every log write handed over so far is committed."""
        if self._log_queue is not None:
            self._log_queue.join()

    def append_log_chunks(self, chunks: list[tuple]) -> None:
        """Hand over chunks ``(group, stream, timestamp ms, text, events, stored bytes, output bytes, partial,
        kubernetes, source)`` to be inserted in one transaction (on the writer thread when there is one);
        never blocks. ``text`` is the chunk's messages joined by ``\n`` (``events`` of them, at most
        :data:`MAX_CHUNK_EVENTS`); ``stored bytes`` what CloudWatch counts (the messages as served),
        ``output bytes`` the text's own; ``partial`` a JSON list of the indices of pieces of a split line (or
        None); ``kubernetes`` the stream's Fluent Bit metadata as JSON text (None: plain-line messages);
        ``source`` the output stream the text was written to (None: stdout, or ``"stderr"``)."""
        if chunks:
            self._submit(self._write_chunks, chunks, size=sum(len(c[3]) for c in chunks))

    def delete_log_events_before(self, ingestion_ms: int) -> Future:
        """Delete the events ingested before ``ingestion_ms`` (the retention sweep) on the writer; the future
        gives how many events and output bytes went."""
        return self._submit(self._delete_before, ingestion_ms)

    def _stream_id(self, group: str, stream: str, ts: int, kubernetes: str | None) -> int:
        sid = self._stream_ids.get((group, stream))
        if sid is None:
            sid = self._log_db.execute(
                "INSERT INTO log_streams (log_group, log_stream, first_ingestion, first_event, last_event, "
                "last_ingestion, stored_bytes, base_ms, output_bytes, kubernetes) VALUES (?, ?, ?, ?, ?, ?, 0, ?, 0, ?)",
                (group, stream, ts, ts, ts, ts, ts, kubernetes),
            ).lastrowid
            self._stream_ids[(group, stream)] = sid
            self._stream_base[sid] = ts
        return sid

    def _write_chunks(self, chunks: list[tuple]) -> None:
        if not chunks:
            return
        stats: dict[int, list[int]] = {}  # stream id -> [first ts, last ts, stored bytes, output bytes]
        rows = []
        seq = self._next_seq
        self._log_db.execute("BEGIN")
        try:
            for group, stream, ts, text, events, stored, output, partial, kubernetes, source in chunks:
                sid = self._stream_id(group, stream, ts, kubernetes)
                seq += events
                offset = ts - self._stream_base[sid]
                rows.append((seq - 1, sid, events, offset, stored, partial, text, source))
                stat = stats.get(sid)
                if stat is None:
                    stats[sid] = [ts, ts, stored, output]
                else:
                    stat[1] = ts
                    stat[2] += stored
                    stat[3] += output
            self._log_db.executemany(
                "INSERT INTO log_chunks (last_seq, stream_id, events, offset_ms, stored, partial, text, "
                "source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._log_db.executemany(
                "UPDATE log_streams SET first_event = MIN(first_event, ?), last_event = MAX(last_event, ?), "
                "last_ingestion = MAX(last_ingestion, ?), stored_bytes = stored_bytes + ?, "
                "output_bytes = output_bytes + ? WHERE id = ?",
                [(first, last, last, size, output, sid) for sid, (first, last, size, output) in stats.items()],
            )
            self._log_db.execute("COMMIT")
        except BaseException:
            self._log_db.execute("ROLLBACK")
            raise
        self._next_seq = seq

    def _delete_before(self, ingestion_ms: int) -> tuple[int, int]:
        """Delete the chunks ingested before ``ingestion_ms``; returns how many events and output bytes went.
        Only streams that hold such chunks are visited."""
        old = self._log_db.execute("SELECT id FROM log_streams WHERE first_ingestion < ?", (ingestion_ms,)).fetchall()
        deleted = deleted_bytes = 0
        for (sid,) in old:
            base = self._stream_base[sid]
            self._log_db.execute("BEGIN")
            events, output = self._log_db.execute(
                "SELECT COALESCE(SUM(events), 0), COALESCE(SUM(LENGTH(CAST(text AS BLOB)) - events + 1), 0) "
                "FROM log_chunks WHERE stream_id = ? AND offset_ms < ?",
                (sid, ingestion_ms - base),
            ).fetchone()
            deleted, deleted_bytes = deleted + events, deleted_bytes + output
            self._log_db.execute(
                "DELETE FROM log_chunks WHERE stream_id = ? AND offset_ms < ?", (sid, ingestion_ms - base)
            )
            first, stored, output = self._log_db.execute(
                "SELECT MIN(offset_ms) + ?, SUM(stored), SUM(LENGTH(CAST(text AS BLOB)) - events + 1) "
                "FROM log_chunks WHERE stream_id = ?",
                (base, sid),
            ).fetchone()
            if first is None:
                self._log_db.execute("DELETE FROM log_streams WHERE id = ?", (sid,))
                self._stream_ids = {k: v for k, v in self._stream_ids.items() if v != sid}
            else:
                self._log_db.execute(
                    "UPDATE log_streams SET first_ingestion = ?, first_event = ?, stored_bytes = ?, "
                    "output_bytes = ? WHERE id = ?",
                    (first, first, stored, output, sid),
                )
            self._log_db.execute("COMMIT")
        return deleted, deleted_bytes

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

    def stream_chunks(
        self, group: str, stream: str, *, after: int | None = None, before: int | None = None,
        start_ms: int | None = None, end_ms: int | None = None, descending: bool = False,
    ) -> Iterator[tuple[int, int, str, int, str | None, str, str | None, str]]:  # fmt: skip
        """The chunks of one stream holding events with ``seq`` above ``after`` (or below ``before``) and a
        timestamp in ``[start_ms, end_ms]``, in ``seq`` order (newest first when ``descending``), read as
        they are iterated: ``(last_seq, events, stream, timestamp ms, partial, text, kubernetes, source)``,
        ``source`` the output stream (``stdout`` or ``stderr``)."""
        self.sync_logs()
        row = self._db.execute(
            "SELECT id, base_ms, kubernetes FROM log_streams WHERE log_group = ? AND log_stream = ?", (group, stream)
        ).fetchone()
        if row is None:
            return iter(())
        sid, base, kubernetes = row
        where, params = ["stream_id = ?"], [sid]
        if after is not None:
            where.append("last_seq > ?")
            params.append(after)
        if before is not None:  # the chunk whose first event is below ``before`` ends below before + MAX
            where.append("last_seq < ? AND last_seq - events < ? - 1")
            params += [before + MAX_CHUNK_EVENTS, before]
        if start_ms is not None:
            where.append("offset_ms >= ?")
            params.append(start_ms - base)
        if end_ms is not None:
            where.append("offset_ms <= ?")
            params.append(end_ms - base)
        cursor = self._db.execute(
            "SELECT last_seq, events, offset_ms, partial, text, COALESCE(source, 'stdout') FROM log_chunks "
            f"WHERE {' AND '.join(where)} ORDER BY last_seq {'DESC' if descending else 'ASC'}",
            params,
        )
        return (
            (seq, n, stream, base + offset, partial, text, kubernetes, source)
            for seq, n, offset, partial, text, source in cursor
        )

    def scan_chunks(
        self, stream_where: str, params: tuple[Any, ...], *, after: int | None = None,
        start_ms: int | None = None, end_ms: int | None = None, text_terms: Iterable[str] = (),
        descending: bool = False,
    ) -> Iterator[tuple[int, int, str, int, str | None, str, str | None, str]]:  # fmt: skip
        """The chunks of the streams that ``stream_where`` selects (it may name ``log_group`` and
        ``log_stream``) in global ``seq`` (ingestion) order, read as they are iterated, in the form of
        :meth:`stream_chunks`. ``text_terms``: of plain-line streams, only chunks whose text holds each of
        them. The chunks are
        walked by their row id, so no sort ever holds their text."""
        self.sync_logs()
        where, values = [f"({stream_where})"], list(params)
        if after is not None:
            where.append("c.last_seq > ?")
            values.append(after)
        if start_ms is not None:
            where.append("s.base_ms + c.offset_ms >= ?")
            values.append(start_ms)
        if end_ms is not None:
            where.append("s.base_ms + c.offset_ms <= ?")
            values.append(end_ms)
        for term in text_terms:  # plain lines only: a stream's Fluent Bit records hold more than its text
            where.append("(s.kubernetes IS NOT NULL OR instr(c.text, ?) > 0)")
            values.append(term)
        cursor = self._db.execute(
            "SELECT c.last_seq, c.events, s.log_stream, s.base_ms + c.offset_ms, c.partial, c.text, "
            "s.kubernetes, COALESCE(c.source, 'stdout') "
            "FROM log_chunks c CROSS JOIN log_streams s ON s.id = c.stream_id "
            f"WHERE {' AND '.join(where)} ORDER BY c.last_seq {'DESC' if descending else 'ASC'}",
            values,
        )
        return iter(cursor)

    def select_log_events(
        self, sql_where: str, params: tuple[Any, ...], limit: int, *, descending: bool = False
    ) -> list[tuple[int, str, int, int, str]]:
        """Events as ``(seq, stream, timestamp, ingestion_time, text)`` in ``seq`` (ingestion, hence time)
        order, newest first when ``descending``: the text each container printed (the CloudWatch API wraps
        it in its Fluent Bit record). ``sql_where`` may name ``log_group`` and ``log_stream``."""
        events: list[tuple[int, str, int, int, str]] = []
        chunks = self.scan_chunks(sql_where, params, descending=descending)
        for last, count, stream, ts, _, text, _, _ in chunks:
            lines = text.split("\n")
            numbered = zip(range(last - count + 1, last + 1), lines)
            for seq, line in reversed(list(numbered)) if descending else numbered:
                events.append((seq, stream, ts, ts, line))
                if len(events) >= limit:
                    return events
        return events

    def close(self) -> None:
        if self._log_queue is not None and self._log_thread is not None:
            self._log_queue.put(None)
            self._log_thread.join()
            self._log_queue = None
            self._log_db.close()
        self._db.close()


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))
