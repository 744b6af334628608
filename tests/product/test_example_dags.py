"""The example DAGs in dags/: each parses with no import error and runs green against the local engine.

Each run is a real ``dag.test()`` (Airflow on SQLite, the provider talking HTTP to the engine); the
assertions read what a user would look at: the DAG run and task states, and the Batch jobs as
DescribeJobs shows them.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timezone
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = ["batch_eks_hello_world", "batch_eks_pipeline", "batch_eks_fan_out", "batch_eks_fair_share", "batch_eks_daily"]


def _dag_module(dag_id: str):
    return importlib.import_module(f"dags.{dag_id}")


def _task_states(run) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        return {ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": (ti.state, ti.try_number) for ti in tis}


def _jobs(batch, queue: str) -> list[dict]:
    ids = [
        summary["jobId"]
        for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
        for summary in batch.list_jobs(jobQueue=queue, jobStatus=status)["jobSummaryList"]
    ]
    return batch.describe_jobs(jobs=ids)["jobs"] if ids else []


def _jobs_by_name(batch, *queues: str) -> dict[str, dict]:
    return {job["jobName"]: job for queue in queues for job in _jobs(batch, queue)}


@pytest.mark.parametrize("dag_id", DAG_FILES)
def test_example_dag_parses_with_docs_and_no_import_error(dag_id):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / f"{dag_id}.py"), safe_mode=False)
    assert bag.import_errors == {}
    dag = bag.dags.get(dag_id)
    assert dag is not None, f"{dag_id}.py defines no DAG {dag_id!r}"
    assert dag.doc_md and len(dag.doc_md) > 200, f"{dag_id} must read as documentation (doc_md)"
    assert "example" in dag.tags


def test_dags_folder_holds_exactly_the_documented_examples():
    files = sorted(p.stem for p in (ROOT / "dags").glob("*.py") if p.stem != "__init__")
    assert files == sorted(DAG_FILES)


def test_hello_world_runs_on_the_on_demand_and_spot_queues(airflow_db, aws_default, batch):
    run = _dag_module("batch_eks_hello_world").dag.test()
    assert run.state == "success"
    jobs = _jobs_by_name(batch, "doeks-JQ1_OD", "doeks-JQ1_SPOT")
    assert {name: job["status"] for name, job in jobs.items()} == {
        "doeks_hello_on_demand": "SUCCEEDED",
        "doeks_hello_spot": "SUCCEEDED",
    }
    assert jobs["doeks_hello_spot"]["jobQueue"].endswith("/doeks-JQ1_SPOT")


def test_pipeline_runs_as_a_depends_on_chain_with_params(airflow_db, aws_default, batch, capfd):
    run = _dag_module("batch_eks_pipeline").dag.test(run_conf={"train_cpu": "2", "train_memory": "2048Mi"})
    assert run.state == "success"
    jobs = _jobs_by_name(batch, "doeks-JQ1_OD", "doeks-JQ1_SPOT")
    prepare, train, evaluate = jobs["pipeline_prepare"], jobs["pipeline_train"], jobs["pipeline_evaluate"]
    assert [job["status"] for job in (prepare, train, evaluate)] == ["SUCCEEDED"] * 3
    assert [d["jobId"] for d in train["dependsOn"]] == [prepare["jobId"]]
    assert [d["jobId"] for d in evaluate["dependsOn"]] == [train["jobId"]]
    # Batch, not Airflow, ordered them: each started after its upstream stopped.
    assert prepare["stoppedAt"] <= train["startedAt"] and train["stoppedAt"] <= evaluate["startedAt"]
    assert train["retryStrategy"]["attempts"] == 3
    assert train["retryStrategy"]["evaluateOnExit"][0] == {"onStatusReason": "Host EC2*", "action": "RETRY"}
    limits = train["eksProperties"]["podProperties"]["containers"][0]["resources"]["limits"]
    assert (limits["cpu"], limits["memory"]) == ("2", "2048Mi")
    out, err = capfd.readouterr()
    assert "accuracy=0.93" in out + err, "the evaluate pod's log is streamed into the task log"
    assert "epoch 3/3" not in out + err, "train is not waited on by Airflow, so its log is not in a task log"


def test_pipeline_permanent_exit_code_fails_evaluate_without_an_airflow_retry(airflow_db, aws_default, batch):
    run = _dag_module("batch_eks_pipeline").dag.test(run_conf={"min_accuracy": 0.99})
    assert run.state == "failed"
    states = _task_states(run)
    assert states["evaluate"] == ("failed", 1)
    evaluate = _jobs_by_name(batch, "doeks-JQ1_OD")["pipeline_evaluate"]
    assert evaluate["status"] == "FAILED"
    assert evaluate["eksAttempts"][-1]["containers"][0]["exitCode"] == 2


def _compute_environment(batch, name: str) -> dict:
    return batch.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"][0]


def test_fan_out_runs_the_array_job_deferred_and_scales_to_zero(airflow_db, aws_default, batch):
    run = _dag_module("batch_eks_fan_out").dag.test(run_conf={"shards": 3})
    assert run.state == "success"
    parent = _jobs_by_name(batch, "doeks-JQ1_SPOT")["fan_out_shards"]
    assert parent["status"] == "SUCCEEDED"
    assert parent["arrayProperties"]["size"] == 3
    assert parent["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 3
    assert _compute_environment(batch, "doeks-CE1_SPOT")["computeResources"]["minvCpus"] == 0


def test_fan_out_scales_to_zero_even_when_a_shard_fails(airflow_db, aws_default, batch):
    run = _dag_module("batch_eks_fan_out").dag.test(run_conf={"shards": 3, "fail_shard": 1})
    assert run.state == "failed"
    states = _task_states(run)
    assert states["prewarm"][0] == "success"
    assert states["fan_out"][0] == "failed"
    assert states["scale_to_zero"][0] == "success"
    assert states["summary"][0] == "upstream_failed"
    assert _jobs_by_name(batch, "doeks-JQ1_SPOT")["fan_out_shards"]["status"] == "FAILED"
    assert _compute_environment(batch, "doeks-CE1_SPOT")["computeResources"]["minvCpus"] == 0


def test_fair_share_creates_its_queue_once_and_runs_both_teams(airflow_db, aws_default, batch):
    module = _dag_module("batch_eks_fair_share")
    assert module.dag.test().state == "success"
    ensure = module.dag.task_dict["ensure_fair_share_queue"].python_callable
    assert ensure() == "doeks-JQ_FAIR"  # a second run finds the policy and the queue and creates nothing
    (queue,) = batch.describe_job_queues(jobQueues=["doeks-JQ_FAIR"])["jobQueues"]
    assert queue["schedulingPolicyArn"].endswith("/doeks-fair-share")
    policies = batch.list_scheduling_policies()["schedulingPolicies"]
    assert [p["arn"] for p in policies if p["arn"].endswith("/doeks-fair-share")] == [queue["schedulingPolicyArn"]]
    jobs = _jobs(batch, "doeks-JQ_FAIR")
    assert sorted((j["jobName"], j["shareIdentifier"], j["schedulingPriority"]) for j in jobs) == sorted(
        [
            ("research_train_model", "research", 50),
            ("analytics_dashboard_refresh", "analytics", 90),
            ("analytics_backfill", "analytics", 10),
        ]
    )
    assert {j["status"] for j in jobs} == {"SUCCEEDED"}


def test_daily_report_is_scheduled_daily_and_templated_with_the_logical_date(airflow_db, aws_default, batch):
    dag = _dag_module("batch_eks_daily").dag
    assert (dag.schedule if hasattr(dag, "schedule") else dag.timetable.summary) == "@daily"
    assert dag.catchup is False
    run = dag.test(logical_date=datetime(2024, 5, 1, tzinfo=timezone.utc))
    assert run.state == "success"
    job = _jobs_by_name(batch, "doeks-JQ1_OD")["nightly_report_20240501"]
    assert job["status"] == "SUCCEEDED"
    env = {e["name"]: e["value"] for e in job["eksProperties"]["podProperties"]["containers"][0]["env"]}
    assert env["REPORT_DATE"] == "2024-05-01"
