"""
### Two teams sharing one fair-share queue

Seed 003's situation on AWS Batch: two departments share one cluster, and neither may starve the
other. On Kubernetes alone that takes a quota tree and a queueing add-on; AWS Batch has it built in as
a **fair-share scheduling policy** on a job queue.

- `ensure_fair_share_queue` creates (once; later runs find it) the scheduling policy
  `doeks-fair-share` and the queue `doeks-JQ_FAIR` on the on-demand compute environment. The
  policy gives `research` a weight of 1 and `analytics` a weight of 1.5; in Batch a **lower weight is a
  larger share**, so when both teams have work queued research gets about 60% of the capacity and
  analytics 40%, like seed 003's Department-a (min 60) and Department-b (min 40). When one team is idle
  the other may use everything.
- Each team submits its work with its `share_identifier`. Within a team, `scheduling_priority` orders
  the team's own jobs (higher first): analytics' `dashboard_refresh` (priority 90) goes before its
  `backfill` (priority 10).

On AWS, a platform team would usually create the policy and queue with Terraform; the first task
shows the API calls and needs `batch:CreateSchedulingPolicy`, `batch:CreateJobQueue` and the
matching Describe permissions (drop it from the DAG when the queue is managed elsewhere).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from batch_eks_provider.hooks.batch import BatchEksHook
from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator

POLICY = "doeks-fair-share"
QUEUE = "doeks-JQ_FAIR"
COMPUTE_ENVIRONMENT = "doeks-CE1_OD"
SHARES = [
    {"shareIdentifier": "research", "weightFactor": 1.0},
    {"shareIdentifier": "analytics", "weightFactor": 1.5},
]

with DAG(
    dag_id="batch_eks_fair_share",
    description="Two teams share a fair-share job queue (share_identifier, scheduling_priority).",
    doc_md=__doc__,
    start_date=datetime(2024, 1, 1),
    schedule=None,
    catchup=False,
    tags=["batch-eks", "example"],
) as dag:

    @task
    def ensure_fair_share_queue() -> str:
        """Create the scheduling policy and the fair-share queue unless they exist; return the queue name."""
        batch = BatchEksHook(aws_conn_id="aws_default").conn
        policies = batch.list_scheduling_policies()["schedulingPolicies"]
        policy_arn = next((p["arn"] for p in policies if p["arn"].endswith(f"/{POLICY}")), None)
        if policy_arn is None:
            policy_arn = batch.create_scheduling_policy(
                name=POLICY,
                fairsharePolicy={"shareDecaySeconds": 3600, "computeReservation": 0, "shareDistribution": SHARES},
            )["arn"]
            print(f"created scheduling policy {policy_arn}")
        if not batch.describe_job_queues(jobQueues=[QUEUE])["jobQueues"]:
            batch.create_job_queue(
                jobQueueName=QUEUE,
                state="ENABLED",
                priority=10,
                schedulingPolicyArn=policy_arn,
                computeEnvironmentOrder=[{"order": 1, "computeEnvironment": COMPUTE_ENVIRONMENT}],
            )
            print(f"created fair-share job queue {QUEUE}")
        return QUEUE

    queue_ready = ensure_fair_share_queue()

    teams = {
        "research": [("train_model", 50)],
        "analytics": [("dashboard_refresh", 90), ("backfill", 10)],
    }
    for team, jobs in teams.items():
        for job, priority in jobs:
            queue_ready >> BatchEksSubmitJobOperator(
                task_id=f"{team}_{job}",
                job_name=f"{team}_{job}",
                job_queue=QUEUE,
                job_definition="doeks-hello-world",
                command=["sh", "-c", f'echo "{team}: {job} (priority {priority}) on $AWS_BATCH_JQ_NAME"'],
                cpu="0.5",
                memory="256Mi",
                share_identifier=team,
                scheduling_priority=priority,
                tags={"team": team},
                deferrable=True,
                poll_interval=0.5,
            )
