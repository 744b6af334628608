"""The documentation matches the code: README's DAG snippet parses and builds the tasks it shows, the IAM
policy in docs/real-aws.md is valid JSON and allows every AWS call the provider makes, and every `make` target
and DAG the README names exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
REAL_AWS = (ROOT / "docs" / "real-aws.md").read_text()
PROVIDER_DIRS = ("hooks", "operators", "sensors", "triggers")


def _code_blocks(markdown: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", markdown, flags=re.S)


def _iam_policy() -> dict:
    (policy,) = [json.loads(block) for block in _code_blocks(REAL_AWS, "json")]
    return policy


def _allowed_actions() -> set[str]:
    actions: set[str] = set()
    for statement in _iam_policy()["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def _operations(service: str) -> dict[str, str]:
    """botocore's client method -> API operation names of ``service`` (what IAM actions are named after)."""
    import boto3

    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client.meta.method_to_api_mapping


def _aws_calls_in_the_provider() -> set[str]:
    """Every AWS API the provider's hooks, operators, sensors and triggers call, as IAM actions."""
    batch, eks, logs = _operations("batch"), _operations("eks"), _operations("logs")
    calls: set[str] = set()
    for directory in PROVIDER_DIRS:
        for path in (ROOT / "batch_eks_provider" / directory).glob("*.py"):
            source = path.read_text()
            # self.conn.describe_jobs(...), client.describe_jobs(...), self.submit_client.submit_job
            for method in re.findall(r"(?:self\.conn|client)\.([a-z_]+)\b", source):
                if method in batch:
                    calls.add(f"batch:{batch[method]}")
            for method in re.findall(r'conn\.get_paginator\("([a-z_]+)"\)', source):
                calls.add(f"batch:{batch[method]}")
            for service, method in re.findall(r'aws_client\("([a-z]+)"\)\.([a-z_]+)\(', source):
                calls.add(f"{service}:{_operations(service)[method]}")
            for method in re.findall(r'logs\.get_paginator\("([a-z_]+)"\)', source):
                calls.add(f"logs:{logs[method]}")
    assert eks  # the eks model loads
    return calls


def test_the_iam_policy_allows_every_aws_call_the_provider_makes():
    calls = _aws_calls_in_the_provider()
    assert {"batch:SubmitJob", "batch:DescribeJobs", "eks:DescribeCluster", "logs:FilterLogEvents"} <= calls
    missing = calls - _allowed_actions()
    assert not missing, f"docs/real-aws.md's policy lacks {sorted(missing)}"


def test_the_iam_policy_lists_what_tagging_and_tokens_need():
    assert {"batch:TagResource", "sts:GetCallerIdentity", "logs:GetLogEvents"} <= _allowed_actions()


def test_the_readme_dag_snippet_builds_the_chain_it_describes():
    (snippet,) = [block for block in _code_blocks(README, "python") if "with DAG(" in block]
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    dag = namespace["dag"]
    assert set(dag.task_dict) == {"prepare", "train"}
    train = dag.task_dict["train"]
    assert train.upstream_task_ids == {"prepare"}
    assert train.retry_strategy.to_api()["evaluateOnExit"][0] == {"onStatusReason": "Host EC2*", "action": "RETRY"}
    assert list(train.permanent_exit_codes) == [2]


def test_every_make_target_and_example_dag_the_readme_names_exists():
    makefile = (ROOT / "Makefile").read_text()
    for target in set(re.findall(r"`make (\w+)", README)):
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"README names `make {target}`, the Makefile has no such target"
    dags = {path.stem for path in (ROOT / "dags").glob("batch_eks_*.py")}
    named = set(re.findall(r"`(batch_eks_[a-z_]+)`", README))
    assert named == dags
