"""Job retention: terminal jobs are kept at least 7 days (as on AWS), then leave memory, indexes and SQLite."""

from __future__ import annotations

from batch_eks_provider.local.clock import ManualClock

DAY = 24 * 3600.0


def _listed(env, status: str) -> set[str]:
    pages = env.batch.get_paginator("list_jobs").paginate(jobQueue="q", jobStatus=status)
    return {j["jobId"] for page in pages for j in page["jobSummaryList"]}


def test_terminal_jobs_go_after_seven_days_with_their_array_children_and_stay_gone_after_a_restart(make_env, tmp_path):
    clock = ManualClock()
    env = make_env(clock=clock, state_dir=tmp_path / "state")
    env.ce("ce")
    env.queue("q", ["ce"])
    env.definition("ok", ["true"])
    env.definition("bad", ["false"])
    old_ok = env.submit("q", "ok", "old-ok")
    old_bad = env.submit("q", "bad", "old-bad")
    old_array = env.submit("q", "ok", "old-array", arrayProperties={"size": 2})
    for job_id in (old_ok, old_bad, old_array):
        env.wait(job_id)
    children = [f"{old_array}:0", f"{old_array}:1"]
    assert [j["status"] for j in env.jobs(children)] == ["SUCCEEDED", "SUCCEEDED"]

    env.advance(6 * DAY)
    young = env.wait(env.submit("q", "ok", "young"))["jobId"]
    env.settle()
    assert len(env.jobs([old_ok, old_bad, old_array, *children])) == 5  # 6 days old: still describable

    env.advance(DAY + 60)
    env.settle()
    assert env.jobs([old_ok, old_bad, old_array, *children]) == []
    assert _listed(env, "SUCCEEDED") == {young}
    assert _listed(env, "FAILED") == set()
    assert env.engine.state.status_index.count("SUCCEEDED") == 1

    env.local.stop()
    restarted = make_env(clock=ManualClock(start=clock.now()), state_dir=tmp_path / "state")
    assert [j["jobId"] for j in restarted.jobs([old_ok, old_bad, old_array, young])] == [young]


def test_retention_can_be_turned_off(make_env):
    env = make_env(clock=ManualClock(), job_retention_seconds=None)
    env.ce("ce")
    env.queue("q", ["ce"])
    env.definition("ok", ["true"])
    job_id = env.wait(env.submit("q", "ok"))["jobId"]
    env.advance(30 * DAY)
    env.settle()
    assert env.job(job_id)["status"] == "SUCCEEDED"
