"""Submission cost: a cold worker checks the job definition, the queue and its compute environments once; then
every task of that worker (each its own process, as in Airflow 3) submits with SubmitJob alone until the facts are
older than the TTL or a submit fails. Only a try after another makes the re-attach lookup (ListJobs)."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from batch_eks_provider.exceptions import BatchEksQueueUnavailableError
from batch_eks_provider.hooks.facts import FactsCache, facts_cache
from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator
from tests.conftest import ROOT
from tests.support.metrics import api_request_totals

CHECKS = {"DescribeJobDefinitions": 1, "DescribeJobQueues": 1, "DescribeComputeEnvironments": 1}

SUBMIT_SCRIPT = """
import sys
from types import SimpleNamespace
from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator
name = sys.argv[1]
ti = SimpleNamespace(dag_id="facts", run_id="manual__" + name, task_id=name, map_index=-1, try_number=1,
                     xcom_push=lambda **_: None)
BatchEksSubmitJobOperator(task_id=name, job_name=name, job_queue="doeks-JQ1_OD", job_definition="doeks-hello-world",
                          wait_for_completion=False, deferrable=False).execute({"ti": ti})
"""


def calls(engine_url: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for (operation, _), n in api_request_totals(engine_url).items():
        totals[operation] = totals.get(operation, 0) + n
    return totals


def since(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}


def submit(name: str, try_number: int = 1) -> None:
    ti = SimpleNamespace(dag_id="facts", run_id=f"manual__{name}", task_id=name, map_index=-1, try_number=try_number,
                         xcom_push=lambda **_: None)
    BatchEksSubmitJobOperator(
        task_id=name, job_name=name, job_queue="doeks-JQ1_OD", job_definition="doeks-hello-world",
        wait_for_completion=False, deferrable=False,
    ).execute({"ti": ti})


def test_a_warm_worker_submits_with_one_call_until_the_facts_expire(aws_default, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(facts_cache, "clock", lambda: now[0])
    submit("cold")
    cold = calls(aws_default.url)
    assert cold == {**CHECKS, "SubmitJob": 1}
    submit("warm")
    assert since(cold, calls(aws_default.url)) == {"SubmitJob": 1}
    now[0] += facts_cache.ttl
    before = calls(aws_default.url)
    submit("expired")
    assert since(before, calls(aws_default.url)) == {**CHECKS, "SubmitJob": 1}


def test_a_later_try_looks_for_the_job_of_an_earlier_one_first(aws_default):
    submit("first-try")
    before = calls(aws_default.url)
    submit("second-try", try_number=2)
    assert since(before, calls(aws_default.url)) == {"ListJobs": 1, "SubmitJob": 1}


def test_task_processes_of_one_worker_share_the_facts(aws_default):
    """Two task processes, one after the other: the second reads what the first checked and sends SubmitJob alone."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    counts = [calls(aws_default.url)]
    for name in ("process-one", "process-two"):
        done = subprocess.run([sys.executable, "-c", SUBMIT_SCRIPT, name], cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        counts.append(calls(aws_default.url))
    assert since(counts[0], counts[1]) == {**CHECKS, "SubmitJob": 1}
    assert since(counts[1], counts[2]) == {"SubmitJob": 1}


def test_a_failed_submit_forgets_the_facts(aws_default, batch):
    from botocore.exceptions import ClientError

    submit("first")  # facts remembered: the queue is ENABLED
    batch.update_job_queue(jobQueue="doeks-JQ1_OD", state="DISABLED")
    with pytest.raises(ClientError, match="DISABLED"):
        submit("second")  # remembered facts say ENABLED: Batch refuses the SubmitJob, and the facts are dropped
    assert list(facts_cache.files.directory.glob("*.json")) == []
    with pytest.raises(BatchEksQueueUnavailableError, match="DISABLED"):
        submit("third")


def test_a_directory_others_may_write_is_not_used(tmp_path, caplog):
    shared = tmp_path / "open"
    shared.mkdir()
    shared.chmod(0o777)
    cache = FactsCache(ttl=30, directory=shared)
    loads = []
    assert cache.get("k", lambda: loads.append(1) or {"v": 1}) == ({"v": 1}, False)
    assert cache.files is None and "only this user can write" in caplog.text
    assert list(shared.iterdir()) == []
    assert cache.get("k", lambda: loads.append(1) or {"v": 2}) == ({"v": 1}, True)  # this process still remembers
    assert len(loads) == 1


@pytest.mark.skipif(os.getuid() != 0, reason="giving the directory to another user needs root")
def test_a_directory_of_another_user_is_not_used(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    assert FactsCache(ttl=30, directory=theirs).files is None


def test_a_torn_or_foreign_file_counts_as_missing(tmp_path):
    directory = tmp_path / "facts"
    writer = FactsCache(ttl=30, directory=directory, clock=lambda: 50.0)
    writer.get("key", lambda: [1, 2])
    (path,) = directory.glob("*.json")
    reader = FactsCache(ttl=30, directory=directory, clock=lambda: 60.0)
    assert reader.get("key", lambda: None) == ([1, 2], True)
    path.write_text('{"key": "key", "at": 5')  # half a file
    assert FactsCache(ttl=30, directory=directory, clock=lambda: 60.0).get("key", lambda: "fresh") == ("fresh", False)
    assert FactsCache(ttl=0, directory=directory).get("key", lambda: "unremembered") == ("unremembered", False)


def test_dag_test_runs_look_for_an_earlier_job_on_try_one():
    """``dag.test()`` re-creates its run, so its try 1 may follow a killed try 1 (tests/provider/e2e/test_timeout_and_crash)."""
    from batch_eks_provider.operators.identity import earlier_job_possible

    ti = SimpleNamespace(try_number=1)
    assert not earlier_job_possible({"ti": ti, "dag_run": SimpleNamespace(triggering_user_name="alice")})
    assert earlier_job_possible({"ti": ti, "dag_run": SimpleNamespace(triggering_user_name="dag_test")})
    assert earlier_job_possible({"ti": SimpleNamespace(try_number=2)})


def test_a_fact_stale_in_memory_is_taken_from_what_another_process_read_since(tmp_path):
    now = [0.0]
    first, second = (FactsCache(ttl=30, directory=tmp_path / "facts", clock=lambda: now[0]) for _ in range(2))
    assert first.get("queue", lambda: "read at 0") == ("read at 0", False)
    now[0] = 40.0
    assert second.get("queue", lambda: "read at 40") == ("read at 40", False)  # the file was stale too
    now[0] = 45.0
    assert first.get("queue", lambda: pytest.fail("the other process's reading is 5 s old")) == ("read at 40", True)
