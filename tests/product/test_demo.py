"""`make demo`'s moving parts against a real engine: the progress watcher, its Spot reclaim, the summary table.

(The whole `make demo` runs Airflow for about a minute; CI runs these parts, a person runs the command.)
"""

from __future__ import annotations

from batch_eks_provider.tools.demo import TABLE_HEADER, JobWatcher, all_jobs, summary_rows
from batch_eks_provider.retry_strategy import RetryStrategy
from tests.support.waits import wait_for_job


def test_watcher_reclaims_the_train_job_once_and_the_summary_shows_the_retry(engine, batch, capsys):
    watcher = JobWatcher(engine.url, reclaim_job_name="pipeline_train", interval=0.05)
    watcher.start()
    try:
        submitted = batch.submit_job(
            jobName="pipeline_train",
            jobQueue="doeks-JQ1_SPOT",
            jobDefinition="doeks-hello-world",
            retryStrategy=RetryStrategy.spot_only(attempts=3).to_api(),
            tags={"airflow:task_id": "train"},
            eksPropertiesOverride={"podProperties": {"containers": [{"command": ["sh", "-c", "sleep 1; echo trained"]}]}},
        )
        job = wait_for_job(batch, submitted["jobId"], timeout=60)
    finally:
        watcher.stop()
    assert job["status"] == "SUCCEEDED"
    out = capsys.readouterr().out
    assert "demo: Spot interruption! node" in out
    assert "attempt 1 ended: Host EC2 (instance i-" in out

    (row,) = summary_rows(all_jobs(batch))
    fields = dict(zip(TABLE_HEADER, row))
    assert fields["task"] == "train"
    assert fields["job"] == "pipeline_train"
    assert fields["status"] == "SUCCEEDED"
    assert fields["attempts"] == "2"
    assert fields["spot reclaims"] == "1"
    assert fields["exit codes"].endswith(",0")
    assert len(fields["nodes"].split()) == 2


def test_summary_falls_back_to_the_job_name_without_airflow_tags(batch):
    submitted = batch.submit_job(jobName="by_hand", jobQueue="doeks-JQ1_OD", jobDefinition="doeks-hello-world")
    wait_for_job(batch, submitted["jobId"])
    (row,) = summary_rows(all_jobs(batch))
    fields = dict(zip(TABLE_HEADER, row))
    assert (fields["task"], fields["job"], fields["attempts"], fields["exit codes"]) == ("-", "by_hand", "1", "0")
