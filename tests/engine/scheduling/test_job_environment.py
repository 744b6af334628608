"""A job gets a container's environment (PATH, HOSTNAME, HOME, the Batch and Kubernetes service variables,
the definition's env), not the engine's: a secret in the engine's environment never reaches a job, nor
its CloudWatch stream, unless the operator passes that name (``EngineConfig.pass_env``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from kubernetes import client as k8s_client

from batch_eks_provider.local.scheduling.pods import CONTAINER_PATH

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def engine_secrets(monkeypatch):
    """Secrets in the engine's own environment, as in an operator's shell."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("BATCH_EKS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("OPERATOR_SETTING", "passed-on")


def _run_env(e, name: str = "job") -> tuple[dict, dict[str, str]]:
    e.batch.register_job_definition(
        jobDefinitionName="printenv",
        type="container",
        eksProperties={
            "podProperties": {
                "containers": [
                    {
                        "name": "main",
                        "image": "amazonlinux:2",
                        "command": ["env"],
                        "env": [{"name": "FROM_DEFINITION", "value": "yes"}],
                        "resources": {"limits": {"cpu": "0.25", "memory": "64Mi"}},
                    }
                ]
            }
        },
    )
    job = e.wait(e.submit("q", "printenv", name))
    assert job["status"] == "SUCCEEDED", job.get("statusReason")
    return job, e.env_of(job)


def test_a_job_gets_a_container_environment_and_nothing_of_the_engines(make_env, engine_secrets):
    e = make_env()
    e.ce("ce")
    e.queue("q", ["ce"])
    job, variables = _run_env(e)
    pod_name = job["eksProperties"]["podProperties"]["podName"]

    assert SECRET not in "\n".join(f"{k}={v}" for k, v in variables.items())
    assert "AWS_SECRET_ACCESS_KEY" not in variables and "BATCH_EKS_SECRET_ACCESS_KEY" not in variables
    assert "OPERATOR_SETTING" not in variables
    assert variables["PATH"] == f"{os.path.dirname(sys.executable)}:{CONTAINER_PATH}"
    assert variables["HOSTNAME"] == pod_name
    assert Path(variables["HOME"]).name == pod_name and Path(variables["HOME"]).is_dir()
    assert variables["FROM_DEFINITION"] == "yes"
    assert variables["AWS_BATCH_JOB_ID"] == job["jobId"]
    assert variables["AWS_BATCH_JQ_NAME"] == "q"
    assert variables["AWS_BATCH_CE_NAME"] == "ce"
    assert variables["AWS_BATCH_JOB_ATTEMPT"] == "1"
    host, port = variables["KUBERNETES_SERVICE_HOST"], variables["KUBERNETES_SERVICE_PORT"]
    assert (host, int(port)) == (e.local.host, e.local.port)
    assert variables["KUBERNETES_PORT"] == f"tcp://{host}:{port}"
    assert variables[f"KUBERNETES_PORT_{port}_TCP_ADDR"] == host
    # only what a container gets: the Batch variables, the Kubernetes ones, PATH, HOSTNAME, HOME, the definition's
    rest = {k for k in variables if not k.startswith(("AWS_BATCH_", "KUBERNETES_"))}
    assert rest <= {"PATH", "HOSTNAME", "HOME", "FROM_DEFINITION", "PWD", "SHLVL", "_"}, rest

    # the variables lead to the engine's own Kubernetes API, as in-cluster configuration would use them
    configuration = k8s_client.Configuration()
    configuration.host = f"http://{host}:{port}"
    pods = k8s_client.CoreV1Api(k8s_client.ApiClient(configuration)).list_pod_for_all_namespaces()
    assert pod_name in {p.metadata.name for p in pods.items}

    # and the secret is not in CloudWatch Logs either
    events = e.logs.filter_log_events(logGroupName="/aws/containerinsights/test-cluster/application")["events"]
    assert events and not any(SECRET in ev["message"] for ev in events)


def test_names_the_operator_passes_are_copied_from_the_engine(make_env, engine_secrets):
    e = make_env(pass_env=("OPERATOR_SETTING", "NOT_SET_ANYWHERE"))
    e.ce("ce")
    e.queue("q", ["ce"])
    _, variables = _run_env(e)
    assert variables["OPERATOR_SETTING"] == "passed-on"
    assert "NOT_SET_ANYWHERE" not in variables
    assert "AWS_SECRET_ACCESS_KEY" not in variables


def test_the_engines_python_is_first_on_path(env):
    """``python3`` in a job is the engine's interpreter (a venv's, with its packages)."""
    env.definition("which", ["sh", "-c", "python3 -c 'import sys, batch_eks_provider; print(sys.prefix)'"])
    job = env.wait(env.submit("q", "which"))
    assert job["status"] == "SUCCEEDED", job.get("statusReason")
    assert env.attempt_output(job["eksAttempts"][-1]) == [sys.prefix]
