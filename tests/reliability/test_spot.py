"""Spot reclaims injected at random across many jobs that retry on Spot reclaims.

Every job has ``RetryStrategy.spot_only(rounds + 1)``. Each round picks a random third of the RUNNING jobs
and reclaims their nodes (``POST /_local/reclaim``; every pod on a reclaimed node dies, as on EC2), at most
once per node per round, so no job can be reclaimed more often than it may retry. All jobs must succeed,
and each job's attempts must be one plus the attempts a reclaim ended.
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request

import pytest

from batch_eks_provider.retry_strategy import RetryStrategy
from tests.support.waits import wait_for

from .conftest import scaled

SPOT_PREFIX = "Host EC2"


def _reclaim(engine_url: str, job_id: str) -> dict | None:
    request = urllib.request.Request(
        f"{engine_url}/_local/reclaim", data=json.dumps({"jobId": job_id}).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError:
        return None  # the job is no longer RUNNING (it ended, or its node went in this round)


def _describe(batch, job_ids: list[str]) -> dict[str, dict]:
    found = {}
    for start in range(0, len(job_ids), 100):
        found.update({j["jobId"]: j for j in batch.describe_jobs(jobs=job_ids[start : start + 100])["jobs"]})
    return found


@pytest.mark.timeout(600)
def test_random_spot_reclaims_are_retried_until_every_job_succeeds(engine, batch, reliability_report):
    jobs, rounds = scaled(20, 100), scaled(1, 2)
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    # the Spot CE has 128 vCPUs: 20 x 1 or 100 x 0.5 all run at once; long enough to outlast the rounds
    cpu, seconds = ("0.5", "20") if jobs > 50 else ("1", "5")
    override = {"podProperties": {"containers": [{"command": ["sleep", seconds], "args": [], "resources": {"limits": {"cpu": cpu, "memory": "16Mi"}}}]}}
    strategy = RetryStrategy.spot_only(rounds + 1).to_api()
    job_ids = [
        batch.submit_job(
            jobName=f"spot-{i}", jobQueue="doeks-JQ1_SPOT", jobDefinition="doeks-hello-world", eksPropertiesOverride=override, retryStrategy=strategy
        )["jobId"]
        for i in range(jobs)
    ]
    reclaim_calls, nodes_reclaimed = 0, 0
    for round_number in range(rounds):
        # every job placed: RUNNING (the previous round's reclaimed jobs run again) or already ended
        wait_for(
            lambda: all(j["status"] in ("RUNNING", "SUCCEEDED", "FAILED") for j in _describe(batch, job_ids).values()),
            timeout=120,
            interval=0.1,
            what=f"all {jobs} jobs RUNNING before round {round_number + 1}",
        )
        snapshot = _describe(batch, job_ids)
        running = [j for j in job_ids if snapshot[j]["status"] == "RUNNING"]
        targets = rng.sample(running, k=max(1, len(running) // 3))
        reclaimed_nodes: set[str] = set()
        for job_id in targets:
            node = snapshot[job_id].get("eksProperties", {}).get("podProperties", {}).get("nodeName")
            if node in reclaimed_nodes:
                continue  # its pod already died with that node in this round
            reclaim_calls += 1
            answer = _reclaim(engine.url, job_id)
            if answer is not None:
                reclaimed_nodes.add(answer["nodeName"])
        nodes_reclaimed += len(reclaimed_nodes)

    def all_ended() -> dict[str, dict] | None:
        described = _describe(batch, job_ids)
        return described if all(j["status"] in ("SUCCEEDED", "FAILED") for j in described.values()) else None

    ended = wait_for(
        all_ended,
        timeout=120,
        interval=0.2,
        what="every job to end",
    )
    attempts = {job_id: job.get("eksAttempts") or [] for job_id, job in ended.items()}
    reclaimed_attempts = {job_id: sum(1 for a in tries if (a.get("statusReason") or "").startswith(SPOT_PREFIX)) for job_id, tries in attempts.items()}
    succeeded = sum(1 for job in ended.values() if job["status"] == "SUCCEEDED")
    total_attempts = sum(len(tries) for tries in attempts.values())
    reliability_report(
        f"spot: {jobs} jobs, spot_only({rounds + 1}) retry, {rounds} round(s) of random reclaims (seed {seed}): {nodes_reclaimed} nodes "
        f"reclaimed, {sum(reclaimed_attempts.values())} attempts ended by a reclaim across "
        f"{sum(1 for n in reclaimed_attempts.values() if n)} jobs; {succeeded}/{jobs} SUCCEEDED; {total_attempts} attempts "
        f"= {jobs} + {total_attempts - jobs} retries"
    )
    assert nodes_reclaimed >= rounds
    assert succeeded == jobs, {j: (ended[j]["status"], ended[j].get("statusReason")) for j in job_ids if ended[j]["status"] != "SUCCEEDED"}
    assert all(len(attempts[j]) == 1 + reclaimed_attempts[j] for j in job_ids), {j: len(attempts[j]) for j in job_ids}
    assert sum(reclaimed_attempts.values()) >= nodes_reclaimed
