"""BatchEksPodHook against the local engine: job -> queue -> CE -> EKS DescribeCluster -> Kubernetes; pod logs
while the pod exists, CloudWatch Logs once it is gone."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes.client import ApiException

from batch_eks_provider.hooks.pods import AttemptLogs, BatchEksPodError, BatchEksPodHook
from tests.support.waits import wait_for, wait_for_job
from tests.support.aws import aws_cli
from tests.support.blueprint import NAMESPACE, create_eks_compute_environment, submit_command, submit_gated_job
from tests.support.kubernetes import core_v1, running_pod
from tests.support.metrics import api_requests
from tests.support.provider import advance_clock, aws_connection_json, post_admin


def _decode(token: str) -> str:
    assert token.startswith("k8s-aws-v1.")
    body = token[len("k8s-aws-v1.") :]
    assert "=" not in body
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def test_token_is_made_as_aws_eks_get_token_makes_it(pod_engine):
    hook = BatchEksPodHook()
    url = urlsplit(_decode(hook.get_token("doeks-batch")))
    query = parse_qs(url.query)
    assert query["Action"] == ["GetCallerIdentity"] and query["X-Amz-Expires"] == ["60"]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0].split(";")
    assert (
        url.netloc == urlsplit(pod_engine.url).netloc
    )  # the connection's endpoint_url is honoured for STS too

    cli = aws_cli("eks", "get-token", "--cluster-name", "doeks-batch", "--output", "text", "--query", "status.token")
    assert cli.returncode == 0, cli.stderr
    reference = parse_qs(urlsplit(_decode(cli.stdout.strip())).query)
    assert set(reference) == set(query)
    assert reference["X-Amz-SignedHeaders"] == query["X-Amz-SignedHeaders"]


def test_stream_pod_logs_follows_a_running_job(pod_engine, pod_batch, tmp_path):
    gate = tmp_path / "gate"
    job_id = submit_gated_job(pod_batch, gate, before="hook-first", after="hook-last")
    running_pod(core_v1(pod_engine.url), job_id)
    lines = BatchEksPodHook().stream_pod_logs(job_id)
    assert next(lines) == "hook-first"
    assert pod_batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"] == "RUNNING"
    gate.touch()
    assert list(lines) == ["hook-last"]  # the generator ends with the pod
    assert wait_for_job(pod_batch, job_id)["status"] == "SUCCEEDED"


def test_fetch_attempt_logs_uses_the_pod_then_cloudwatch_once_it_is_gone(pod_engine, pod_batch):
    job_id = submit_command(pod_batch, "echo out-1; echo out-2; echo out-3")
    job = wait_for_job(pod_batch, job_id)
    hook = BatchEksPodHook()

    from_pod = hook.fetch_attempt_logs(job)
    assert isinstance(from_pod, AttemptLogs)
    assert (from_pod.source, from_pod.lines) == ("pod", ["out-1", "out-2", "out-3"])
    assert from_pod.pod_name == job["eksAttempts"][0]["podName"] and from_pod.namespace == NAMESPACE

    advance_clock(pod_engine, 31)  # past pod_retention_seconds: Batch deletes the pod
    core = core_v1(pod_engine.url)

    def pod_gone():
        try:
            core.read_namespaced_pod(from_pod.pod_name, NAMESPACE)
        except ApiException as e:
            return e.status == 404
        return False

    wait_for(pod_gone, what="the pod to be deleted")
    from_cloudwatch = hook.fetch_attempt_logs(job_id)
    assert from_cloudwatch.source == "cloudwatch"
    assert from_cloudwatch.lines == from_pod.lines
    assert from_cloudwatch.containers == {"application": ["out-1", "out-2", "out-3"]}


def test_each_attempt_has_its_own_logs(pod_engine, pod_batch):
    script = 'echo "attempt $AWS_BATCH_JOB_ATTEMPT"; [ "$AWS_BATCH_JOB_ATTEMPT" = 2 ]'
    job_id = submit_command(pod_batch, script, name="retried", retryStrategy={"attempts": 2})
    job = wait_for_job(pod_batch, job_id)
    assert job["status"] == "SUCCEEDED" and len(job["eksAttempts"]) == 2
    hook = BatchEksPodHook()
    assert hook.fetch_attempt_logs(job, 0).lines == ["attempt 1"]
    assert hook.fetch_attempt_logs(job, -1).lines == ["attempt 2"]
    assert list(hook.stream_pod_logs(job["eksAttempts"][0])) == [
        "attempt 1"
    ]  # an ended pod: all lines, then the end
    advance_clock(pod_engine, 31)
    wait_for(lambda: hook.fetch_attempt_logs(job, 0).source == "cloudwatch", what="the first pod to be gone")
    assert hook.fetch_attempt_logs(job, 0).lines == ["attempt 1"]
    assert hook.fetch_attempt_logs(job, 1).lines == ["attempt 2"]
    with pytest.raises(BatchEksPodError, match=r"has 2 finished attempt\(s\); no attempt 5"):
        hook.fetch_attempt_logs(job, 5)


def test_read_pod_log_with_a_known_cluster(pod_engine, pod_batch):
    job = wait_for_job(pod_batch, submit_command(pod_batch, "echo a; echo b; echo c"))
    hook = BatchEksPodHook(cluster_name="doeks-batch")
    pod = job["eksAttempts"][0]["podName"]
    assert hook.read_pod_log(pod, NAMESPACE) == "a\nb\nc\n"
    assert hook.read_pod_log(pod, NAMESPACE, container="application", tail_lines=1) == "c\n"


def test_a_job_without_a_pod_yet_is_a_clear_error(pod_engine, pod_batch):
    pod_batch.update_compute_environment(computeEnvironment="doeks-CE1_SPOT", state="DISABLED")
    job_id = pod_batch.submit_job(
        jobName="held", jobQueue="doeks-JQ1_SPOT", jobDefinition="doeks-hello-world"
    )["jobId"]
    with pytest.raises(BatchEksPodError, match=rf"AWS Batch job \({job_id}\) is \w+ and has no pod yet"):
        next(BatchEksPodHook().stream_pod_logs(job_id))
    with pytest.raises(BatchEksPodError, match=r"does not exist"):
        BatchEksPodHook().fetch_attempt_logs("no-such-job")


def test_kubernetes_conn_id_reads_pods_through_the_cncf_kubernetes_connection(pod_engine, pod_batch, tmp_path, monkeypatch):
    """A DAG author inside the cluster names a Kubernetes connection; the cncf provider's KubernetesHook builds
    the client (here from a kubeconfig pointing at the engine's Kubernetes API), no EKS token involved."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "engine",
        "clusters": [{"name": "engine", "cluster": {"server": pod_engine.url}}],
        "users": [{"name": "sa", "user": {"token": "service-account-token"}}],
        "contexts": [{"name": "engine", "context": {"cluster": "engine", "user": "sa"}}],
    }))
    monkeypatch.setenv("AIRFLOW_CONN_IN_CLUSTER", json.dumps({"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig)}}))
    job_id = submit_command(pod_batch, "echo via-connection")
    job = wait_for_job(pod_batch, job_id)
    attempt = job["eksAttempts"][-1]
    hook = BatchEksPodHook(kubernetes_conn_id="in_cluster")
    hook.get_token = lambda cluster: pytest.fail("no EKS token is made with a kubernetes_conn_id")
    assert NAMESPACE in [ns.metadata.name for ns in hook.core_v1().list_namespace().items]
    assert hook.read_pod_log(attempt["podName"], attempt["podNamespace"]) == "via-connection\n"


def test_token_is_renewed_before_eks_stops_accepting_it(pod_engine, pod_batch):
    now = [1000.0]
    hook = BatchEksPodHook(cluster_name="doeks-batch", clock=lambda: now[0])
    made = []
    original = hook.get_token
    hook.get_token = lambda cluster: made.append(cluster) or original(cluster)
    core = hook.core_v1()
    core.list_namespace()
    core.list_namespace()
    assert made == ["doeks-batch"]
    now[0] += 601
    core.list_namespace()
    assert made == ["doeks-batch", "doeks-batch"]


def test_https_endpoints_get_their_certificate_authority_file(pod_engine):
    hook = BatchEksPodHook(cluster_name="secure")
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    hook._clusters["secure"] = {
        "endpoint": "https://ABC.gr7.us-east-1.eks.amazonaws.com",
        "certificateAuthority": {"data": base64.b64encode(pem).decode()},
    }
    configuration = hook.get_api_client().configuration
    assert configuration.host == "https://ABC.gr7.us-east-1.eks.amazonaws.com"
    with open(configuration.ssl_ca_cert, "rb") as f:
        assert f.read() == pem
    assert configuration.api_key["authorization"].startswith("k8s-aws-v1.")
    assert configuration.get_api_key_with_prefix("authorization").startswith("Bearer k8s-aws-v1.")


def test_a_queue_with_compute_environments_in_two_namespaces(pod_engine, pod_batch, tmp_path):
    first = create_eks_compute_environment(pod_batch, "team-a-ce", namespace="team-a", state="DISABLED")
    second = create_eks_compute_environment(pod_batch, "team-b-ce", namespace="team-b")
    wait_for(
        lambda: all(
            ce["status"] == "VALID"
            for ce in pod_batch.describe_compute_environments(computeEnvironments=[first, second])[
                "computeEnvironments"
            ]
        ),
        what="the CEs to be VALID",
    )
    pod_batch.create_job_queue(
        jobQueueName="two-teams",
        priority=1,
        computeEnvironmentOrder=[
            {"order": 1, "computeEnvironment": first},
            {"order": 2, "computeEnvironment": second},
        ],
    )
    gate = tmp_path / "gate"
    script = f"echo in-team-b; while [ ! -f {gate} ]; do sleep 0.02; done"
    job_id = submit_command(pod_batch, script, name="team-b-job", queue="two-teams")
    wait_for_job(pod_batch, job_id, statuses=("RUNNING",))
    hook = BatchEksPodHook()
    ref = hook.current_pod(job_id)
    assert (ref.namespace, ref.cluster_name) == ("team-b", "doeks-batch")
    lines = hook.stream_pod_logs(job_id)
    assert next(lines) == "in-team-b"
    gate.touch()
    assert list(lines) == []


def test_throttled_aws_apis_slow_the_hook_down_instead_of_failing_it(pod_engine, pod_batch, monkeypatch):
    from batch_eks_provider import retries

    job = wait_for_job(pod_batch, submit_command(pod_batch, "echo through-the-storm"))
    advance_clock(pod_engine, 31)  # the pod is deleted: the hook needs Batch, EKS and CloudWatch Logs
    wait_for(lambda: not pod_engine.engine.state.pods, what="the pod to be deleted")
    # botocore's own retries off: only the hook's retry layer stands between a 429 and the task
    no_retries = {"retries": {"mode": "standard", "total_max_attempts": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json(pod_engine.url, config_kwargs=no_retries))
    post_admin(pod_engine.url, "/_local/faults", {"throttle_rate": 0.7})
    try:
        with retries.overridden(initial_wait=0.001, max_wait=0.005, max_attempts=60):
            fetched = [BatchEksPodHook().fetch_attempt_logs(job["jobId"]) for _ in range(3)]
    finally:
        post_admin(pod_engine.url, "/_local/faults", {"throttle_rate": 0.0})
    assert [(logs.source, logs.lines) for logs in fetched] == [("cloudwatch", ["through-the-storm"])] * 3
    assert api_requests(pod_engine.url, service=None, outcome="TooManyRequestsException") >= 1  # 9+ calls at 70 %: some 429
    assert api_requests(pod_engine.url, "FilterLogEvents", service="logs", outcome="ok") >= 3


def test_a_silent_stream_is_reopened_without_repeating_lines(pod_engine, pod_batch, tmp_path):
    """A read timeout while the pod is quiet reopens the stream; lines already yielded are not repeated."""
    import threading

    gate = tmp_path / "gate"
    script = f"echo one; echo two; while [ ! -f {gate} ]; do sleep 0.02; done; echo three"
    job_id = submit_command(pod_batch, script, name="quiet")
    running_pod(core_v1(pod_engine.url), job_id)
    lines = BatchEksPodHook().stream_pod_logs(job_id, request_timeout=(5, 0.3))
    assert [next(lines), next(lines)] == ["one", "two"]
    opener = threading.Timer(1.5, gate.touch)  # quiet for 1.5 s: several 0.3 s read timeouts first
    opener.start()
    assert list(lines) == ["three"]
    opener.join()
    assert api_requests(pod_engine.url, "read_namespaced_pod_log", service="kubernetes") >= 3  # the first stream and reopened ones
    assert wait_for_job(pod_batch, job_id)["status"] == "SUCCEEDED"


def test_streams_have_a_read_timeout_by_default():
    import inspect

    default = inspect.signature(BatchEksPodHook.stream_pod_logs).parameters["request_timeout"].default
    assert default is not None and 0 < default[1] <= 600


def test_reopened_stream_timestamps_compare_with_trimmed_fractions():
    from batch_eks_provider.hooks.pod_logs import StreamPosition as _StreamPosition

    position = _StreamPosition(clock=lambda: 100.0)
    assert position.seen("2026-11-22T11:00:00Z")
    assert position.seen("2026-11-22T11:00:00.5Z")  # later, although "." sorts before "Z"
    assert position.seen("2026-11-22T11:00:00.5Z")
    position.since_seconds(None)
    assert not position.seen("2026-11-22T11:00:00.123Z")
    assert [position.seen("2026-11-22T11:00:00.500Z") for _ in range(3)] == [False, False, True]


FLUENT_BIT_ID = "4f1c" * 16  # a 64-hex container id, as containerd names it


def test_cloudwatch_streams_named_as_fluent_bit_names_them_are_found_without_the_node(pod_engine):
    """Real Container Insights streams end ``_<container>-<containerID>.log``; with no node name the hook lists
    the group's newest streams (a bounded scan) and must still pick the pod's containers, and only them.

    CloudWatch Logs is stubbed at the botocore boundary (the engine names its streams without the id, and
    has no PutLogEvents); the stubber checks every request against the service model."""
    from botocore.stub import Stubber

    from batch_eks_provider.hooks.pods import PodRef

    hook = BatchEksPodHook()
    logs = hook.aws_client("logs")
    group = "/aws/containerinsights/c1/application"
    base = "ip-10-0-1-2.ec2.internal-application.var.log.containers."
    streams = [
        f"{base}pod-a_ns_main-{FLUENT_BIT_ID}.log",
        f"{base}pod-a_ns_main-sidecar-{FLUENT_BIT_ID}.log",
        f"{base}pod-ab_ns_main-{FLUENT_BIT_ID}.log",
        f"{base}xpod-a_ns_main-{FLUENT_BIT_ID}.log",
    ]
    with Stubber(logs) as stub:
        stub.add_response(
            "describe_log_streams",
            {"logStreams": [{"logStreamName": name} for name in streams]},
            {"logGroupName": group, "orderBy": "LastEventTime", "descending": True},
        )
        stub.add_response(
            "filter_log_events",
            {
                "events": [
                    {"logStreamName": streams[0], "message": '{"log":"hello\\n","stream":"stdout"}'},
                    {"logStreamName": streams[0], "message": '{"log":"bye\\n","stream":"stdout"}'},
                ]
            },
            {"logGroupName": group, "logStreamNamePrefix": streams[0]},
        )
        found = hook._cloudwatch_logs(PodRef("pod-a", "ns", "c1", None, ("main",)), ["main"])
        stub.assert_no_pending_responses()
    assert (found.source, found.containers) == ("cloudwatch", {"main": ["hello", "bye"]})


def test_stream_container_reads_both_naming_schemes():
    from batch_eks_provider.hooks.pod_logs import stream_container

    marker, base = ".containers.pod-a_ns_", "n-application.var.log.containers."
    assert stream_container(f"{base}pod-a_ns_main-{FLUENT_BIT_ID}.log", marker) == "main"
    assert stream_container(f"{base}pod-a_ns_main.log", marker) == "main"
    assert stream_container(f"{base}pod-a_ns_main-sidecar.log", marker) == "main-sidecar"
    assert stream_container(f"{base}pod-b_ns_main.log", marker) is None
    assert stream_container(f"{base}xpod-a_ns_main.log", marker) is None


FETCH_WITHOUT_KUBERNETES = """
import json, sys
from batch_eks_provider.hooks.pods import BatchEksPodHook
logs = BatchEksPodHook().fetch_attempt_logs(sys.argv[1])
print(json.dumps({"source": logs.source, "lines": logs.lines, "kubernetes_imported": "kubernetes" in sys.modules}))
"""


def test_an_ended_attempt_is_read_from_its_pod_without_importing_the_kubernetes_client(pod_engine, pod_batch):
    """What a resumed deferred task does: one GET per container over HTTPS (the cluster CA, an EKS token)."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    job_id = submit_command(pod_batch, "echo first; echo second")
    wait_for_job(pod_batch, job_id)
    done = subprocess.run([sys.executable, "-c", FETCH_WITHOUT_KUBERNETES, job_id], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "source": "pod", "lines": ["first", "second"], "kubernetes_imported": False
    }


def test_a_refused_log_read_names_the_answer(pod_engine, pod_batch):
    from batch_eks_provider.hooks.pod_log_http import PodLogHttpError

    job_id = submit_command(pod_batch, "echo hidden")
    job = wait_for_job(pod_batch, job_id)
    with pytest.raises(PodLogHttpError) as refused:
        BatchEksPodHook().fetch_attempt_logs(job, container="no-such-container")
    assert refused.value.status == 400 and "no-such-container" in str(refused.value)
