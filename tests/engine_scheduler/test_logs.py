"""The engine's log store: bounded memory per container, per-pod bookkeeping, CloudWatch retention."""

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
