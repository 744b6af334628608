"""The engine's log store: bounded memory per container, per-pod bookkeeping, CloudWatch retention, and the
output stream (stdout or stderr) of every line."""

from __future__ import annotations

from batch_eks_provider.local.clock import ManualClock
from batch_eks_provider.local.store.logs import LogStore
from batch_eks_provider.local.store.sqlite import Store

GROUP = "/aws/containerinsights/test-cluster/application"


def _store(**limits) -> tuple[LogStore, ManualClock, Store]:
    clock = ManualClock(start=1_700_000_000.0)
    store = Store(None)
    return LogStore(store, clock, **limits), clock, store


def test_a_container_keeps_only_its_last_lines_in_memory_while_cloudwatch_keeps_all():
    logs, _, store = _store(max_lines_per_container=100)
    for i in range(1000):
        logs.append("pod-a", "main", f"line {i}", group=GROUP, stream="s-a")
    kept = [line.message for line in logs.lines[("pod-a", "main")]]
    assert len(kept) < 200 and kept[-1] == "line 999" and kept == [f"line {i}" for i in range(1000 - len(kept), 1000)]
    logs.flush()
    assert store.log_streams(GROUP)[0][0] == "s-a"
    assert len(store.select_log_events("log_group = ?", (GROUP,), 5000)) == 1000


def test_forgetting_a_pod_drops_its_lines_and_wakes_its_followers_only():
    logs, _, _ = _store()
    for pod in ("pod-a", "pod-b"):
        for container in ("main", "sidecar"):
            logs.append(pod, container, "hi", group=GROUP, stream=f"{pod}-{container}")
    follower_a, follower_b = logs.waiter("pod-a", "main"), logs.waiter("pod-b", "main")
    follower_a.clear(), follower_b.clear()
    logs.notify("pod-a")
    assert follower_a.is_set() and not follower_b.is_set()
    logs.forget_pod("pod-a")
    assert sorted(logs.lines) == [("pod-b", "main"), ("pod-b", "sidecar")]
    assert not follower_b.is_set()


def test_cloudwatch_events_older_than_the_retention_are_deleted():
    logs, clock, store = _store(retention_seconds=3600)
    logs.append("old-pod", "main", "old", group=GROUP, stream="old")
    logs.flush()
    clock.advance(3000)
    logs.append("new-pod", "main", "new", group=GROUP, stream="new")
    logs.flush()
    clock.advance(1200)  # "old" is 4200 s old, "new" 1200 s
    logs.flush()
    assert not store.log_events_exist(GROUP, "old")
    assert store.log_events_exist(GROUP, "new")


def test_a_chunk_of_lines_is_one_event_per_line_and_long_lines_are_split_at_character_boundaries():
    from batch_eks_provider.local.store.fluent_bit import MAX_EVENT_BYTES, split_message

    logs, _, store = _store()
    long_line = "a" * (MAX_EVENT_BYTES - 1) + "é" + "b" * 10
    logs.append("pod-a", "main", "one\ntwo\n" + long_line, group=GROUP, stream="s-a")
    logs.flush()
    messages = [row[4] for row in store.select_log_events("log_group = ?", (GROUP,), 10)]
    assert messages[:2] == ["one", "two"] and "".join(messages[2:]) == long_line
    assert [len(m.encode()) for m in messages[2:]] == [MAX_EVENT_BYTES - 1, 12]  # the é is not cut in two
    assert split_message("short") == ["short"]


def test_the_caps_drop_output_after_one_marker_and_count_message_bytes():
    logs, _, store = _store(max_bytes_per_container=10, max_bytes_total=15)
    logs.append("pod-a", "main", "12345\n67890\nabc", group=GROUP, stream="s-a")
    logs.append("pod-a", "main", "more", group=GROUP, stream="s-a")
    logs.append("pod-b", "main", "1234\n5678", group=GROUP, stream="s-b")
    logs.flush()
    by_stream = {}
    for _, stream, _, _, message in store.select_log_events("log_group = ?", (GROUP,), 10):
        by_stream.setdefault(stream, []).append(message)
    assert by_stream["s-a"] == ["12345", "67890", "[batch-eks local] log output over 10 bytes (the per-container log limit) dropped for this container"]
    assert by_stream["s-b"] == ["1234", "[batch-eks local] log output over 15 bytes (the engine's total log limit) dropped for this container"]


def test_events_stored_one_row_each_by_an_earlier_engine_are_read_back_after_the_upgrade(tmp_path):
    import sqlite3

    db = sqlite3.connect(tmp_path / "engine.sqlite3", isolation_level=None)
    db.executescript(
        "CREATE TABLE log_streams (id INTEGER PRIMARY KEY, log_group TEXT NOT NULL, log_stream TEXT NOT NULL,"
        " first_ingestion INTEGER NOT NULL, first_event INTEGER NOT NULL, last_event INTEGER NOT NULL,"
        " last_ingestion INTEGER NOT NULL, stored_bytes INTEGER NOT NULL, base_ms INTEGER NOT NULL,"
        " UNIQUE (log_group, log_stream));"
        "CREATE TABLE log_stream_events (stream_id INTEGER NOT NULL, seq INTEGER NOT NULL, offset_ms INTEGER NOT NULL,"
        " message TEXT NOT NULL, PRIMARY KEY (stream_id, seq)) WITHOUT ROWID;"
        f"INSERT INTO log_streams VALUES (1, '{GROUP}', 's-a', 1000, 1000, 1005, 1005, 9, 1000);"
        f"INSERT INTO log_streams VALUES (2, '{GROUP}', 's-b', 1002, 1002, 1002, 1002, 3, 1002);"
        "INSERT INTO log_stream_events VALUES (1, 1, 0, 'one'), (1, 2, 0, 'two'), (2, 3, 0, 'b-1'), (1, 4, 5, 'six');"
    )
    db.close()
    store = Store(tmp_path)
    rows = store.select_log_events("log_group = ?", (GROUP,), 10)
    assert [(r[1], r[2], r[4]) for r in rows] == [("s-a", 1000, "one"), ("s-a", 1000, "two"), ("s-b", 1002, "b-1"), ("s-a", 1005, "six")]
    assert store.stored_log_bytes() == 12 and sorted(s[5] for s in store.log_streams(GROUP)) == [3, 9]
    logs = LogStore(store, ManualClock(start=2.0))
    logs.append("pod-a", "main", "seven", group=GROUP, stream="s-a")
    logs.flush()
    assert [r[4] for r in store.select_log_events("log_stream = ?", ("s-a",), 10)] == ["one", "two", "six", "seven"]
    store.close()


def test_each_line_keeps_its_output_stream_in_memory_and_in_the_stored_chunks_in_the_order_printed():
    logs, _, store = _store()  # one timestamp for all: only the stream keeps the chunks apart
    logs.append("pod-a", "main", "out", group=GROUP, stream="s-a")
    logs.append("pod-a", "main", "err\nerr2", source="stderr", group=GROUP, stream="s-a")
    logs.append("pod-a", "main", "out2", group=GROUP, stream="s-a")
    kept = [(line.message, line.source) for line in logs.lines[("pod-a", "main")]]
    assert kept == [("out", "stdout"), ("err", "stderr"), ("err2", "stderr"), ("out2", "stdout")]
    logs.flush()
    chunks = [(chunk[5], chunk[7]) for chunk in store.stream_chunks(GROUP, "s-a")]
    assert chunks == [("out", "stdout"), ("err\nerr2", "stderr"), ("out2", "stdout")]
    assert [r[4] for r in store.select_log_events("log_stream = ?", ("s-a",), 10)] == ["out", "err", "err2", "out2"]


def test_chunks_stored_before_the_output_stream_was_kept_read_as_stdout_after_the_upgrade(tmp_path):
    import sqlite3

    db = sqlite3.connect(tmp_path / "engine.sqlite3", isolation_level=None)
    db.executescript(  # log_chunks without its source column, as an engine before it made it
        "CREATE TABLE log_streams (id INTEGER PRIMARY KEY, log_group TEXT NOT NULL, log_stream TEXT NOT NULL,"
        " first_ingestion INTEGER NOT NULL, first_event INTEGER NOT NULL, last_event INTEGER NOT NULL,"
        " last_ingestion INTEGER NOT NULL, stored_bytes INTEGER NOT NULL, base_ms INTEGER NOT NULL,"
        " output_bytes INTEGER NOT NULL DEFAULT 0, kubernetes TEXT, UNIQUE (log_group, log_stream));"
        "CREATE TABLE log_chunks (last_seq INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, events INTEGER NOT NULL,"
        " offset_ms INTEGER NOT NULL, stored INTEGER NOT NULL, partial TEXT, text TEXT NOT NULL);"
        f"INSERT INTO log_streams VALUES (1, '{GROUP}', 's-a', 1000, 1000, 1000, 1000, 6, 1000, 6, NULL);"
        "INSERT INTO log_chunks VALUES (2, 1, 2, 0, 6, NULL, 'one\ntwo');"
    )
    db.close()
    store = Store(tmp_path)
    assert [(c[5], c[7]) for c in store.stream_chunks(GROUP, "s-a")] == [("one\ntwo", "stdout")]
    logs = LogStore(store, ManualClock(start=2.0))
    logs.append("pod-a", "main", "three", source="stderr", group=GROUP, stream="s-a")
    logs.flush()
    assert [(c[5], c[7]) for c in store.stream_chunks(GROUP, "s-a")] == [("one\ntwo", "stdout"), ("three", "stderr")]
    store.close()
    reopened = Store(tmp_path)
    assert [c[7] for c in reopened.scan_chunks("log_group = ?", (GROUP,))] == ["stdout", "stderr"]
    reopened.close()


def test_ids_and_names_of_a_container_as_container_insights_has_them():
    from batch_eks_provider.local.store.fluent_bit import container_id, log_stream_name

    cid = container_id("aws-batch.p1", "main")
    assert len(cid) == 64 and int(cid, 16) >= 0 and cid == container_id("aws-batch.p1", "main")
    assert len({cid, container_id("aws-batch.p2", "main"), container_id("aws-batch.p1", "side")}) == 3
    assert log_stream_name("ip-1", "aws-batch.p1", "ns", "main", cid) == (
        f"ip-1-application.var.log.containers.aws-batch.p1_ns_main-{cid}.log"
    )
