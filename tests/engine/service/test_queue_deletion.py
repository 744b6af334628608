"""DeleteJobQueue: "All jobs in the queue are eventually terminated when you delete a job queue"."""

from __future__ import annotations

from tests.support.waits import wait_for


def test_deleting_a_queue_terminates_its_running_runnable_and_pending_jobs(make_env):
    env = make_env()
    env.ce("ce", max_vcpus=2, instance_types=["m5.large"])  # room for one 2-vCPU job at a time
    env.queue("q", ["ce"])
    env.definition("long", ["sleep", "300"], cpu="2")
    running = env.submit("q", "long", "running")
    env.wait_status(running, "RUNNING")
    runnable = env.submit("q", "long", "runnable")
    pending = env.submit("q", "long", "pending", dependsOn=[{"jobId": running}])
    env.settle()
    assert [env.job(j)["status"] for j in (runnable, pending)] == ["RUNNABLE", "PENDING"]

    env.batch.update_job_queue(jobQueue="q", state="DISABLED")
    env.batch.delete_job_queue(jobQueue="q")

    for job_id in (running, runnable, pending):
        job = env.wait(job_id, timeout=15)
        assert job["status"] == "FAILED", job_id
        assert job["statusReason"] == "Job queue q was deleted", job["statusReason"]
    (attempt,) = env.job(running)["eksAttempts"]  # its pod was stopped
    assert attempt["stoppedAt"] and attempt["containers"][0]["exitCode"] != 0, attempt
    wait_for(
        lambda: env.batch.describe_job_queues(jobQueues=["q"])["jobQueues"] == [], timeout=10, what="the queue to go"
    )
