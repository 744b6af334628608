"""Dependencies and array jobs, driven through boto3."""

from __future__ import annotations

from tests.support.waits import wait_for


def test_a_chain_runs_in_order_and_each_job_waits_pending(env):
    env.definition("sleepy", ["sh", "-c", "sleep 0.3"])
    first = env.submit("q", "sleepy", "first")
    second = env.submit("q", "sleepy", "second", dependsOn=[{"jobId": first}])
    third = env.submit("q", "sleepy", "third", dependsOn=[{"jobId": second}])
    assert env.job(third)["status"] in ("SUBMITTED", "PENDING")
    done = env.wait(third)
    assert done["status"] == "SUCCEEDED"
    jobs = {j["jobId"]: j for j in env.jobs([first, second, third])}
    assert jobs[first]["stoppedAt"] <= jobs[second]["startedAt"]
    assert jobs[second]["stoppedAt"] <= jobs[third]["startedAt"]


def test_a_failed_dependency_fails_the_chain_without_running_it(env):
    env.definition("fail", ["sh", "-c", "exit 1"])
    env.definition("ok", ["true"])
    first = env.submit("q", "fail", "first")
    second = env.submit("q", "ok", "second", dependsOn=[{"jobId": first}])
    third = env.submit("q", "ok", "third", dependsOn=[{"jobId": second}])
    done = env.wait(third)
    assert done["status"] == "FAILED"
    assert done["statusReason"] == "Dependent Job failed"
    assert done["eksAttempts"] == []
    assert "startedAt" not in done
    assert env.job(second)["statusReason"] == "Dependent Job failed"


def test_array_children_get_their_index_and_the_parent_a_status_summary(env):
    env.definition("index", ["sh", "-c", "env"])
    parent = env.submit("q", "index", "arr", arrayProperties={"size": 4})
    done = env.wait(parent)
    assert done["status"] == "SUCCEEDED"
    assert done["arrayProperties"]["size"] == 4
    assert done["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 4
    children = env.jobs([f"{parent}:{i}" for i in range(4)])
    assert [c["arrayProperties"]["index"] for c in children] == [0, 1, 2, 3]
    for child in children:
        env_vars = env.env_of(child)
        assert env_vars["AWS_BATCH_JOB_ARRAY_INDEX"] == str(child["arrayProperties"]["index"])
        assert env_vars["AWS_BATCH_JOB_ID"] == child["jobId"]


def test_an_array_parent_is_pending_while_children_run_and_fails_if_one_child_fails(env):
    env.definition("odd-fails", ["sh", "-c", 'sleep 0.3; [ "$AWS_BATCH_JOB_ARRAY_INDEX" != 1 ]'])
    parent = env.submit("q", "odd-fails", "arr", arrayProperties={"size": 3})
    seen = set()

    def finished():
        job = env.job(parent)
        seen.add(job["status"])
        return job if job["status"] in ("SUCCEEDED", "FAILED") else None

    done = wait_for(finished, timeout=30, what="array parent to finish")
    assert seen <= {"SUBMITTED", "PENDING", "FAILED"}
    assert done["status"] == "FAILED"
    summary = done["arrayProperties"]["statusSummary"]
    assert (summary["SUCCEEDED"], summary["FAILED"]) == (2, 1)


def test_sequential_array_children_run_one_after_another(env):
    env.definition("seq", ["sh", "-c", "sleep 0.2"])
    parent = env.submit("q", "seq", "seq", arrayProperties={"size": 3}, dependsOn=[{"type": "SEQUENTIAL"}])
    assert env.wait(parent)["status"] == "SUCCEEDED"
    children = env.jobs([f"{parent}:{i}" for i in range(3)])
    assert children[0]["stoppedAt"] <= children[1]["startedAt"]
    assert children[1]["stoppedAt"] <= children[2]["startedAt"]


def test_n_to_n_children_wait_for_the_same_index_of_the_other_array(env):
    env.definition("slow-odd", ["sh", "-c", 'if [ "$AWS_BATCH_JOB_ARRAY_INDEX" = 1 ]; then sleep 1; fi'])
    env.definition("quick", ["true"])
    first = env.submit("q", "slow-odd", "first", arrayProperties={"size": 2})
    second = env.submit("q", "quick", "second", arrayProperties={"size": 2}, dependsOn=[{"jobId": first, "type": "N_TO_N"}])
    assert env.wait(second)["status"] == "SUCCEEDED"
    a0, a1, b0, b1 = env.jobs([f"{first}:0", f"{first}:1", f"{second}:0", f"{second}:1"])
    assert a0["stoppedAt"] <= b0["startedAt"]
    assert a1["stoppedAt"] <= b1["startedAt"]
    assert b0["startedAt"] < a1["stoppedAt"]  # child 0 did not wait for child 1 of the other array


def test_a_job_depending_on_an_array_waits_for_all_children(env):
    env.definition("short", ["sh", "-c", "sleep 0.2"])
    parent = env.submit("q", "short", "arr", arrayProperties={"size": 3})
    after = env.submit("q", "short", "after", dependsOn=[{"jobId": parent}])
    done = env.wait(after)
    assert done["status"] == "SUCCEEDED"
    children = env.jobs([f"{parent}:{i}" for i in range(3)])
    assert max(c["stoppedAt"] for c in children) <= done["startedAt"]
