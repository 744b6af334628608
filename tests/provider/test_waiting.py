"""The waiting package: the explanation of a waiting job read through the real hooks against the engine
(PENDING on an upstream job, STARTING on a pod still being created, a fair-share queue), when lines are due,
and the rules that stop a wait (stuck, never fits, Spot reclaims)."""

from __future__ import annotations

import pytest

from batch_eks_provider.exceptions import BatchEksInvalidInputError
from batch_eks_provider.hooks.batch import BatchEksHook
from batch_eks_provider.hooks.pods import BatchEksPodHook
from batch_eks_provider.waiting.explain import HookFacts, WaitExplainer, explain, plain_reason
from batch_eks_provider.waiting.rules import StatusTimer, WaitRules, blocked_code, verdict
from tests.support.waits import wait_for_job
from tests.support.provider import post_admin

QUEUE = "doeks-JQ1_OD"
HOLD = {"podProperties": {"containers": [{"command": ["sleep", "300"], "args": [], "resources": {"limits": {"cpu": "1", "memory": "16Mi"}}}]}}


def submit(batch, name: str, queue: str = QUEUE, **extra) -> str:
    return batch.submit_job(jobName=name, jobQueue=queue, jobDefinition="doeks-hello-world", eksPropertiesOverride=HOLD, **extra)["jobId"]


def facts(with_pods: bool = False) -> HookFacts:
    return HookFacts(lambda: BatchEksHook(aws_conn_id="aws_default"), (lambda: BatchEksPodHook(aws_conn_id="aws_default")) if with_pods else None)


def test_a_pending_job_names_its_upstream_jobs_and_their_states(aws_default, batch):
    upstream = submit(batch, "prepare")
    wait_for_job(batch, upstream, statuses=("RUNNING",))
    dependent = submit(batch, "train", dependsOn=[{"jobId": upstream}])
    job = wait_for_job(batch, dependent, statuses=("PENDING",))
    line = explain(job, 302, facts())
    assert line == f"AWS Batch job train ({dependent}) has been PENDING for 5m 02s: it waits on 1 upstream job(s): prepare ({upstream}) RUNNING"
    batch.terminate_job(jobId=upstream, reason="test over")


def test_a_starting_job_shows_its_pod_being_created(aws_default, batch):
    post_admin(aws_default.url, "/_local/faults", {"pod_start_delay_seconds": 600})
    job_id = submit(batch, "slow-start")
    job = wait_for_job(batch, job_id, statuses=("STARTING",), timeout=60)
    pod_name = job["eksProperties"]["podProperties"]["podName"]
    line = explain(job, 61, facts(with_pods=True))
    assert line.startswith(f"AWS Batch job slow-start ({job_id}) has been STARTING for 1m 01s: its pod {pod_name} is Pending on node ip-"), line
    assert line.endswith("container application waiting (ContainerCreating)"), line
    post_admin(aws_default.url, "/_local/faults", {"pod_start_delay_seconds": 0})
    assert wait_for_job(batch, job_id, statuses=("RUNNING",), timeout=60)["status"] == "RUNNING"
    batch.terminate_job(jobId=job_id, reason="test over")


def test_a_fair_share_job_says_its_share_and_priority(aws_default, batch):
    policy = batch.create_scheduling_policy(
        name="teams", fairsharePolicy={"shareDecaySeconds": 60, "shareDistribution": [{"shareIdentifier": "teamA", "weightFactor": 1.0}]}
    )
    batch.update_compute_environment(computeEnvironment="doeks-CE1_OD", computeResources={"maxvCpus": 2})
    batch.create_job_queue(
        jobQueueName="teams", priority=1, schedulingPolicyArn=policy["arn"],
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "doeks-CE1_OD"}],
    )
    holders = [submit(batch, f"holder-{i}") for i in range(2)]
    for holder in holders:
        wait_for_job(batch, holder, statuses=("RUNNING",))
    job_id = submit(batch, "shared", queue="teams", shareIdentifier="teamA", schedulingPriorityOverride=5)
    job = wait_for_job(batch, job_id, statuses=("RUNNABLE",))
    line = explain(job, 400, facts())
    assert "its compute environments are at maxvCpus (2 of 2 vCPUs in use)" in line, line
    assert "it is first in the queue" in line, line
    assert "fair share: identifier 'teamA', priority 5" in line, line
    for other in [*holders, job_id]:
        batch.terminate_job(jobId=other, reason="test over")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class NoFacts:
    """A facts source for jobs whose line needs none (SUBMITTED), or that fails when asked."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def upstream(self, job_ids):
        raise self.error or AssertionError("not asked")

    def queue(self, job_queue):
        raise self.error or AssertionError("not asked")

    def pod(self, job):
        raise self.error or AssertionError("not asked")


def test_lines_start_after_explain_after_then_come_at_a_bounded_rate(monkeypatch):
    from batch_eks_provider.waiting import explain as explain_module

    monkeypatch.setattr(explain_module, "MIN_EXPLAIN_INTERVAL", 30.0)
    clock = Clock()
    explainer = WaitExplainer(10, NoFacts(RuntimeError("no endpoint")), clock)
    timer = StatusTimer(clock)
    job = {"jobId": "j1", "jobName": "n", "status": "RUNNABLE", "jobQueue": "q"}
    seen = []
    for second in range(0, 100):
        clock.now = float(second)
        line = explainer.line(job, timer.observe(job))
        if line:
            seen.append((second, line))
    assert [s for s, _ in seen] == [10, 40, 70]  # after 10 s in RUNNABLE, then every max(10, 30) s
    assert seen[0][1] == "AWS Batch job n (j1) has been RUNNABLE for 10s (why could not be read: no endpoint)"
    assert WaitExplainer(None, NoFacts(), clock).line(job, 1000) is None  # explain_after=None: never
    assert WaitExplainer(10, NoFacts(), clock).line(dict(job, status="RUNNING"), 1000) is None


def test_a_new_status_restarts_the_count():
    clock = Clock()
    timer = StatusTimer(clock)
    assert timer.observe({"status": "PENDING"}) == 0
    clock.now = 50
    assert timer.observe({"status": "PENDING"}) == 50
    assert timer.observe({"status": "RUNNABLE"}) == 0


BLOCKED = "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher than that can be met by the CE(s) attached to the job queue."


def test_blocked_reasons_are_read_and_said_in_plain_words():
    assert blocked_code(BLOCKED) == "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT"
    assert blocked_code("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill ...") == "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
    assert blocked_code("Essential container in pod exited") is None
    assert blocked_code(None) is None
    assert plain_reason(BLOCKED).startswith("no compute environment of the queue has an instance type big enough")
    assert plain_reason(BLOCKED).endswith(f"({BLOCKED})")


def test_the_rules_say_when_to_stop_waiting():
    stuck = WaitRules(on_stuck="fail", stuck_after=600)
    runnable = {"jobId": "j", "status": "RUNNABLE"}
    assert verdict(stuck, runnable, 599) is None
    assert verdict(stuck, runnable, 600).kind == "stuck"
    assert verdict(stuck, dict(runnable, status="PENDING"), 10_000) is None  # waiting on upstream is not stuck
    never = verdict(stuck, dict(runnable, statusReason=BLOCKED), 0)
    assert never.never_fits and never.reason == f"it can never start on this queue: {BLOCKED}"
    assert verdict(WaitRules(), dict(runnable, statusReason=BLOCKED), 10_000) is None  # on_stuck None: wait on
    reclaimed = {"status": "RUNNABLE", "eksAttempts": [{"statusReason": "Host EC2 (instance i-1) terminated."}]}
    assert verdict(WaitRules(max_spot_reclaims=2), reclaimed, 0) is None
    assert verdict(WaitRules(max_spot_reclaims=1), reclaimed, 0).kind == "spot_reclaims"
    failed_on_spot = dict(reclaimed, status="FAILED")
    assert verdict(WaitRules(max_spot_reclaims=3), failed_on_spot, 0).kind == "spot_reclaims"  # Batch gave up first
    assert verdict(WaitRules(), failed_on_spot, 0) is None
    assert WaitRules(max_spot_reclaims=1, on_stuck="next_queue").after_redirect() == WaitRules(on_stuck="fail")


@pytest.mark.parametrize(
    "field, value, rule",
    [
        ("on_stuck", "retry", 'must be None, "fail" or "next_queue".'),
        ("stuck_after", "soon", "must be a number of seconds (or None)."),
        ("explain_after", "0", "must be more than 0 seconds (or None to turn it off)."),
        ("max_spot_reclaims", "0", "must be at least 1 (or None)."),
        ("max_spot_reclaims", "two", "must be a whole number."),
    ],
)
def test_bad_rules_name_the_field_the_value_and_the_rule(field, value, rule):
    arguments = {"explain_after": None, "on_stuck": None, "stuck_after": None, "max_spot_reclaims": None, field: value}
    with pytest.raises(BatchEksInvalidInputError) as raised:
        WaitRules.parse(**arguments)
    assert str(raised.value) == f"Invalid {field} {value!r}: {rule}"
