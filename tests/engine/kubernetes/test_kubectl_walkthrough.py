"""The seed 000/001 kubectl walkthrough, as written, against an engine that verifies every request.

``aws eks update-kubeconfig --name doeks-batch`` writes the kubeconfig (HTTPS endpoint, the cluster CA, the
``aws eks get-token`` exec plugin); then ``kubectl get nodes``, ``get ns``, ``get pods -n doeks-aws-batch -w``
while a job runs, ``describe pod``, ``logs``, ``describe node``. The engine runs in remote mode (SigV4
credentials): it refuses a request without a valid EKS token, so each kubectl answer proves the exec
plugin's token was sent and verified.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from batch_eks_provider.local import EngineConfig, LocalEngine
from batch_eks_provider.local.api.auth import EngineCredentials
from tests.support.waits import wait_for
from tests.support.blueprint import NAMESPACE, submit_gated_job

KUBECTL = shutil.which("kubectl")
AWS = Path(sys.executable).parent / "aws"
pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed (Debian: apt-get install kubectl); the walkthrough needs it"
)
CREDENTIALS = EngineCredentials("AKIDKUBECTLWALK", "kubectl-walkthrough-secret-0123456789abcdef")
WATCH_LIMIT_SECONDS = 60


@pytest.fixture
def remote_engine(tmp_path):
    config = EngineConfig(node_startup_seconds=0.0, pod_retention_seconds=1.0)
    with LocalEngine(blueprint="data-on-eks", state_dir=tmp_path / "engine", config=config, credentials=CREDENTIALS) as running:
        yield running


@pytest.fixture
def kube_env(remote_engine, tmp_path):
    env = {
        "PATH": f"{AWS.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",  # the exec plugin's `aws`
        "HOME": str(tmp_path / "home"),
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "AWS_ACCESS_KEY_ID": CREDENTIALS.access_key_id,
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS.secret_access_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    out = subprocess.run(
        [str(AWS), "eks", "update-kubeconfig", "--name", "doeks-batch", "--endpoint-url", remote_engine.url],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    kubeconfig = Path(env["KUBECONFIG"]).read_text()
    assert f"server: https://127.0.0.1:{remote_engine.kubernetes_port}" in kubeconfig
    assert "certificate-authority-data:" in kubeconfig and "get-token" in kubeconfig
    return env


def kubectl(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
    return out.stdout


def columns(line: str) -> list[str]:
    """A kubectl table line's cells (kubectl pads columns with at least three spaces)."""
    return re.split(r"\s{2,}", line.strip())


class Watching:
    """``kubectl get pods -n doeks-aws-batch -w`` in the background; its stdout lines as they come."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [KUBECTL, "get", "pods", "-n", NAMESPACE, "-w"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        threading.Thread(target=self._read, args=(self.process.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.process.stderr, self.errors), daemon=True).start()

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def statuses(self) -> list[str]:
        return [line.split()[2] for line in self.lines[1:] if line.strip()]

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def test_the_seed_walkthrough_prints_what_eks_prints(remote_engine, kube_env, tmp_path):
    env = kube_env
    namespaces = kubectl(env, "get", "ns").splitlines()
    assert columns(namespaces[0]) == ["NAME", "STATUS", "AGE"]
    assert [columns(line)[:2] for line in namespaces[1:]] == [
        [name, "Active"]
        for name in ("amazon-cloudwatch", "default", NAMESPACE, "kube-node-lease", "kube-public", "kube-system")
    ]

    watching = Watching(env)
    try:
        # kubectl lists (nothing yet), then watches from the list's resourceVersion: both requests answered
        wait_for(lambda: _pod_lists(remote_engine) >= 2 or watching.process.poll() is not None,
                 timeout=WATCH_LIMIT_SECONDS, what="kubectl get pods -w to list and watch")
        assert watching.process.poll() is None, watching.errors
        batch = _signed_batch(remote_engine)
        gate = tmp_path / "gate"
        job_id = submit_gated_job(batch, gate, before="Hello World!", after="bye")
        wait_for(lambda: "Running" in watching.statuses(), timeout=WATCH_LIMIT_SECONDS, what="the pod to run")
        pod_name = watching.lines[1].split()[0]

        nodes = kubectl(env, "get", "nodes").splitlines()
        assert columns(nodes[0]) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
        assert all(re.fullmatch(r"ip-[\d-]+\.ec2\.internal\s+Ready\s+<none>\s+\d+s\s+v1\.30\.\S+", row) for row in nodes[1:]), nodes
        wide = kubectl(env, "get", "nodes", "-o", "wide").splitlines()
        assert columns(wide[0]) == [
            "NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION",
            "CONTAINER-RUNTIME",
        ]

        described = kubectl(env, "describe", "pod", pod_name, "-n", NAMESPACE)
        assert re.search(rf"^Name:\s+{re.escape(pod_name)}$", described, re.M)
        assert re.search(rf"^Namespace:\s+{NAMESPACE}$", described, re.M)
        assert re.search(r"^Status:\s+Running$", described, re.M)
        assert re.search(rf"batch\.amazonaws\.com/job-id={job_id}", described)
        assert re.search(r"^Events:\n\s+Type\s+Reason\s+Age\s+From\s+Message$", described, re.M), described
        for reason in ("Scheduled", "Pulled", "Created", "Started"):
            assert re.search(rf"^\s+Normal\s+{reason}\s+", described, re.M), reason
        wait_for(lambda: "Hello World!" in kubectl(env, "logs", pod_name, "-n", NAMESPACE), timeout=20,
                 what="the job's first line in kubectl logs")
        node_described = kubectl(env, "describe", "node")
        assert re.search(r"^Name:\s+ip-[\d-]+\.ec2\.internal$", node_described, re.M)
        assert "NodeReady" in node_described and pod_name in node_described  # its events and its pod

        gate.touch()
        wait_for(lambda: watching.statuses()[-1:] == ["Terminating"] and len(watching.statuses()) >= 6,
                 timeout=WATCH_LIMIT_SECONDS, what="the pod to complete and go")
    finally:
        watching.stop()
    assert columns(watching.lines[0]) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = [line.split() for line in watching.lines[1:]]
    assert {row[0] for row in rows} == {pod_name}
    assert all(len(row) == 5 and row[3] == "0" and re.fullmatch(r"\d+s", row[4]) for row in rows), rows
    # seed 001: Pending -> ContainerCreating -> Running -> Completed -> Terminating, READY 0/1 1/1 0/1
    assert [(row[1], row[2]) for row in rows] == [
        ("0/1", "Pending"),
        ("0/1", "ContainerCreating"),
        ("1/1", "Running"),
        ("0/1", "Completed"),
        ("0/1", "Terminating"),
        ("0/1", "Terminating"),
    ], watching.lines


def _pod_lists(engine: LocalEngine) -> float:
    """How many pod lists and watches of the namespace the engine has answered (each needs a valid token)."""
    return engine.engine.metrics.api_requests.labels("kubernetes", "list_namespaced_pod", "ok")._value.get()


def _signed_batch(engine: LocalEngine):
    import boto3

    return boto3.client(
        "batch", endpoint_url=engine.url, region_name="us-east-1",
        aws_access_key_id=CREDENTIALS.access_key_id, aws_secret_access_key=CREDENTIALS.secret_access_key,
    )


def test_kubectl_without_the_exec_token_is_refused(remote_engine, kube_env):
    out = subprocess.run(
        [KUBECTL, "get", "ns", "--token", "k8s-aws-v1.not-a-presigned-url"],
        env=kube_env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode != 0
    assert "Unauthorized" in out.stderr or "forbidden" in out.stderr.lower(), out.stderr
