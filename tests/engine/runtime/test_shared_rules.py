"""What every runtime shares, and the runtime choice; none of these needs a Docker daemon.

- ``$(VAR)`` in command/args, as Batch documents it for ``EksContainer`` (here on the process runtime);
- the pod spec defaults Batch documents (dnsPolicy with and without hostNetwork, the pod's own IP);
- ``--runtime``: ``process`` by default, ``auto`` falls back to it, ``docker`` without a daemon is refused
  with the reason.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from batch_eks_provider.local.engine import choose_runtime
from batch_eks_provider.local.runtime.expansion import expand, expand_env
from batch_eks_provider.local.scheduling.pods import default_dns_policy, node_ip, pod_ip
from batch_eks_provider.local.store.models import Pod


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("$(NAME1)", "value1"),
        ("$(NAME2)", "$(NAME2)"),  # not defined: stays as written
        ("$$(NAME1)", "$(NAME1)"),  # $$ is $, and what follows is not expanded
        ("a-$(NAME1)-b", "a-value1-b"),
        ("$$$(NAME1)", "$value1"),
        ("$NAME1 ${NAME1} $", "$NAME1 ${NAME1} $"),  # shell syntax is the shell's business
        ("$(NAME1", "$(NAME1"),
        ("$()", "$()"),
    ],
)
def test_var_references_expand_as_batch_documents(text, expanded):
    assert expand(text, {"NAME1": "value1"}) == expanded


def test_env_values_refer_to_earlier_entries_and_service_variables():
    env = expand_env(
        [{"name": "A", "value": "1"}, {"name": "B", "value": "$(A)-$(KUBERNETES_SERVICE_HOST)-$(C)"}, {"name": "C", "value": "3"}],
        {"KUBERNETES_SERVICE_HOST": "10.100.0.1"},
    )
    assert env == {"A": "1", "B": "1-10.100.0.1-$(C)", "C": "3"}


def test_the_process_runtime_expands_command_and_args(env):
    env.batch.register_job_definition(
        jobDefinitionName="expand",
        type="container",
        eksProperties={"podProperties": {"containers": [{
            "name": "main", "image": "busybox",
            "command": ["sh", "-c", 'echo "$1 $2 $3 $4"', "sh"],
            "args": ["$(GREETING)", "$$(GREETING)", "$(UNDEFINED)", "job-$(AWS_BATCH_JOB_ATTEMPT)"],
            "env": [{"name": "GREETING", "value": "hello"}],
            "resources": {"limits": {"cpu": "0.25", "memory": "32Mi"}},
        }]}},
    )
    done = env.wait(env.submit("q", "expand"))
    assert done["status"] == "SUCCEEDED", done.get("statusReason")
    assert env.attempt_output(done["eksAttempts"][0]) == ["hello $(GREETING) $(UNDEFINED) job-1"]


@pytest.mark.parametrize(
    ("props", "policy"),
    [
        ({}, "ClusterFirstWithHostNet"),  # hostNetwork not given at all
        ({"hostNetwork": True}, "ClusterFirst"),  # seed 000's pod of a hostNetwork: true definition
        ({"hostNetwork": False}, "ClusterFirst"),
        ({"hostNetwork": True, "dnsPolicy": "Default"}, "Default"),
    ],
)
def test_dns_policy_defaults_as_batch_documents(props, policy):
    assert default_dns_policy(props) == policy


def _pod(host_network: bool, uid: str) -> Pod:
    return Pod(name="aws-batch.x", namespace="ns", uid=uid, job_id="j", attempt_number=1,
               node_name="ip-10-0-149-169.ec2.internal", ce_name="ce", spec={"hostNetwork": host_network},
               labels={}, created_at=0.0)


def test_a_pod_off_the_host_network_has_an_ip_of_its_own():
    host = node_ip("ip-10-0-149-169.ec2.internal")
    assert pod_ip(_pod(True, "u1")) == host == "10.0.149.169"
    ips = {pod_ip(_pod(False, f"uid-{i}")) for i in range(200)}
    assert host not in ips and all(ip.startswith("10.0.") for ip in ips) and len(ips) > 150
    assert pod_ip(_pod(False, "uid-7")) == pod_ip(_pod(False, "uid-7"))  # stable for one pod


def test_auto_falls_back_to_the_process_runtime_without_a_daemon(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.delenv("BATCH_EKS_RUNTIME", raising=False)
    assert choose_runtime(None) == "process"
    assert choose_runtime("auto") == "process"
    monkeypatch.setenv("BATCH_EKS_RUNTIME", "docker")
    assert choose_runtime(None) == "docker"
    with pytest.raises(ValueError, match="Invalid runtime 'podman': must be one of process, docker, auto."):
        choose_runtime("podman")


def test_serve_with_the_docker_runtime_and_no_daemon_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = subprocess.run(
        [sys.executable, "-m", "batch_eks_provider.cli", "local", "serve", "--runtime", "docker", "--port", "0",
         "--state-dir", str(tmp_path / "state")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: The docker runtime cannot start: No Docker daemon answers at unix:///nonexistent/docker.sock"
    ), result.stderr


def test_both_runtimes_say_when_a_pods_containers_have_all_started():
    from batch_eks_provider.local.runtime.process import ContainerSpec, PodRun, note_started

    heard: list[str] = []
    init, main, side = (ContainerSpec(n, ["true"], {}) for n in ("init", "main", "side"))
    run = PodRun("aws-batch.p", [init], [main, side], work_dir=None)  # type: ignore[arg-type]
    for spec in (init, main):
        note_started(run, spec, heard.append)
    assert heard == []  # an init container does not count; one of two containers is not all
    note_started(run, side, heard.append)
    assert heard == ["aws-batch.p"]
