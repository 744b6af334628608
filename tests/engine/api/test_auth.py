"""SigV4 verification, as ``batch-eks local serve --allow-remote`` turns it on, tested on loopback
(the engine is given credentials but never binds a non-loopback address)."""

from __future__ import annotations

import base64
import datetime
import json
import urllib.parse

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from batch_eks_provider.cli import main as cli_main
from batch_eks_provider.local import LocalEngine
from batch_eks_provider.local.api.auth import EngineCredentials, SigV4Middleware
from batch_eks_provider.local.api.browser_guard import BrowserGuard
from tests.engine.api.conftest import raw_call

KEY, SECRET = "AKIALOCALENGINE0001", "engine-secret-0123456789"
QUEUE_ARN = "arn:aws:batch:us-east-1:123456789012:job-queue/doeks-JQ1_OD"


@pytest.fixture(scope="module")
def guarded():
    with LocalEngine(blueprint="data-on-eks", credentials=EngineCredentials(KEY, SECRET)) as running:
        yield running


def client(url: str, key: str = KEY, secret: str = SECRET, service: str = "batch"):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret)


def signed(url: str, path: str, body: bytes, timestamp: datetime.datetime | None = None) -> tuple[dict, bytes]:
    """Headers of a request signed by hand (optionally at another time), the way botocore signs."""
    request = AWSRequest(method="POST", url=url + path, data=body, headers={"Content-Type": "application/json"})
    signer = SigV4Auth(Credentials(KEY, SECRET), "batch", "us-east-1")
    stamp = (timestamp or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    request.context["timestamp"] = stamp
    request.headers["X-Amz-Date"] = stamp
    request.headers["Host"] = urllib.parse.urlsplit(url).netloc
    signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    signer._inject_signature_to_request(request, signature)
    return dict(request.headers.items()), body


def test_requests_signed_with_the_engine_credentials_are_served(guarded):
    batch = client(guarded.url)
    assert [q["jobQueueName"] for q in batch.describe_job_queues()["jobQueues"]] == ["doeks-JQ1_OD", "doeks-JQ1_SPOT"]
    job = batch.submit_job(jobName="signed", jobQueue="doeks-JQ1_OD", jobDefinition="doeks-hello-world")
    assert batch.describe_jobs(jobs=[job["jobId"]])["jobs"][0]["jobName"] == "signed"
    batch.tag_resource(resourceArn=QUEUE_ARN, tags={"a": "1", "b": "2"})  # an ARN in the path: double-encoded when signed
    batch.untag_resource(resourceArn=QUEUE_ARN, tagKeys=["a", "b"])  # a repeated query parameter
    assert batch.list_tags_for_resource(resourceArn=QUEUE_ARN)["tags"] == {}


@pytest.mark.parametrize(
    ("key", "secret", "error"),
    [(KEY, "wrong-secret-0123456789", "InvalidSignatureException"), ("AKIASOMEONEELSE", SECRET, "UnrecognizedClientException")],
)
def test_other_credentials_are_refused_with_403(guarded, key, secret, error):
    batch = client(guarded.url, key, secret)
    with pytest.raises(ClientError) as raised:
        batch.describe_job_queues()
    assert raised.value.response["Error"]["Code"] == error
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_unsigned_tampered_and_stale_requests_are_refused(guarded):
    unsigned = raw_call(guarded.url, "/v1/describejobqueues", "{}")
    assert (unsigned.status, unsigned.error_type) == (403, "MissingAuthenticationTokenException")
    for path in ("/metrics", "/version", "/_local/faults"):
        assert raw_call(guarded.url, path, method="GET").status == 403
    assert raw_call(guarded.url, "/_local/health", method="GET").status == 200

    headers, body = signed(guarded.url, "/v1/describejobqueues", b"{}")
    assert raw_call(guarded.url, "/v1/describejobqueues", body, headers=headers).status == 200
    tampered = raw_call(guarded.url, "/v1/describejobqueues", b'{"maxResults": 1}', headers=headers)
    assert (tampered.status, tampered.error_type) == (403, "InvalidSignatureException")

    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    headers, body = signed(guarded.url, "/v1/describejobqueues", b"{}", timestamp=old)
    stale = raw_call(guarded.url, "/v1/describejobqueues", body, headers=headers)
    assert (stale.status, stale.error_type) == (403, "InvalidSignatureException")
    assert "Signature expired" in stale.json["message"]
    assert client(guarded.url).describe_job_queues()["jobQueues"]  # still serving


def eks_token(url: str, cluster: str, secret: str = SECRET) -> str:
    """What ``aws eks get-token`` builds: a presigned STS GetCallerIdentity URL that signs x-k8s-aws-id."""
    sts = client(url, secret=secret, service="sts")

    def add_cluster_header(request, **kwargs):
        request.headers["x-k8s-aws-id"] = cluster

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
    presigned = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
    return "k8s-aws-v1." + base64.urlsafe_b64encode(presigned.encode()).decode().rstrip("=")


def test_eks_tokens_for_a_known_cluster_open_the_kubernetes_api(guarded):
    ok = raw_call(guarded.url, "/version", method="GET", headers={"Authorization": "Bearer " + eks_token(guarded.url, "doeks-batch")})
    assert ok.status == 200 and json.loads(ok.body)["major"] == "1"
    for token in (eks_token(guarded.url, "other-cluster"), eks_token(guarded.url, "doeks-batch", secret="wrong-secret-0123456789"),
                  "k8s-aws-v1.bm90LWEtdXJs", "some-service-account-token"):
        refused = raw_call(guarded.url, "/version", method="GET", headers={"Authorization": "Bearer " + token})
        assert refused.status == 403, token


def test_loopback_without_credentials_accepts_any_signature(engine):
    assert client(engine.url, "AKIAANYONE", "any-secret").describe_job_queues()["jobQueues"]
    assert raw_call(engine.url, "/v1/describejobqueues", "{}").status == 200


def test_serve_refuses_remote_hosts_without_the_flag_and_credentials(monkeypatch, capsys):
    monkeypatch.delenv("BATCH_EKS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("BATCH_EKS_SECRET_ACCESS_KEY", raising=False)
    served = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: served.append((app, kw)))
    assert cli_main(["local", "serve", "--host", "0.0.0.0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert cli_main(["local", "serve", "--host", "0.0.0.0", "--allow-remote"]) == 2
    assert "credentials" in capsys.readouterr().err
    assert cli_main(["local", "serve", "--host", "0.0.0.0", "--allow-remote", "--access-key-id", "AKIAX", "--secret-access-key", "short"]) == 2
    assert "at least 16 characters" in capsys.readouterr().err
    assert served == []
    monkeypatch.setenv("BATCH_EKS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("BATCH_EKS_SECRET_ACCESS_KEY", SECRET)
    assert cli_main(["local", "serve", "--host", "0.0.0.0", "--allow-remote", "--port", "0"]) == 0
    ((app, options),) = served
    assert options["host"] == "0.0.0.0" and isinstance(app, BrowserGuard) and isinstance(app.app, SigV4Middleware)
    assert app.app.verifier.credentials == EngineCredentials(KEY, SECRET)


def test_eks_and_cloudwatch_logs_requests_are_verified_too(guarded):
    assert client(guarded.url, service="eks").describe_cluster(name="doeks-batch")["cluster"]["name"] == "doeks-batch"
    assert "logGroups" in client(guarded.url, service="logs").describe_log_groups()
    for service, call in (("eks", lambda c: c.list_clusters()), ("logs", lambda c: c.describe_log_groups())):
        with pytest.raises(ClientError) as raised:
            call(client(guarded.url, secret="wrong-secret-0123456789", service=service))
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_kubernetes_client_needs_a_signed_eks_token(guarded):
    from kubernetes import client as k8s
    from kubernetes.client.exceptions import ApiException

    def core(token: str):
        configuration = k8s.Configuration()
        configuration.host = client(guarded.url, service="eks").describe_cluster(name="doeks-batch")["cluster"]["endpoint"]
        configuration.ssl_ca_cert = str(guarded.ca_path)  # the https endpoint's cluster CA
        configuration.api_key = {"authorization": "Bearer " + token}
        return k8s.CoreV1Api(k8s.ApiClient(configuration))

    assert core(eks_token(guarded.url, "doeks-batch")).list_namespaced_pod("doeks-aws-batch").items is not None
    with pytest.raises(ApiException) as raised:
        core("k8s-aws-v1.anything").list_namespaced_pod("doeks-aws-batch")
    assert raised.value.status == 403


def test_an_eks_token_opens_the_kubernetes_api_only(guarded):
    bearer = {"Authorization": "Bearer " + eks_token(guarded.url, "doeks-batch")}
    assert raw_call(guarded.url, "/api/v1/namespaces", method="GET", headers=bearer).status == 200
    for path, body, method, extra in (
        ("/v1/describejobqueues", "{}", "POST", {}),
        ("/v1/submitjob", '{"jobName": "t", "jobQueue": "doeks-JQ1_OD", "jobDefinition": "doeks-hello-world"}', "POST", {}),
        ("/clusters/doeks-batch", None, "GET", {}),
        ("/", "{}", "POST", {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Logs_20140328.DescribeLogGroups"}),
        ("/_local/faults", None, "GET", {}),
        ("/metrics", None, "GET", {}),
    ):
        refused = raw_call(guarded.url, path, body, method=method, headers={**bearer, **extra})
        assert (refused.status, refused.error_type) == (403, "InvalidSignatureException"), path
        assert "Kubernetes API only" in refused.json["message"]


def test_a_signature_must_cover_the_body(guarded):
    body = b'{"jobName": "swapped", "jobQueue": "doeks-JQ1_OD", "jobDefinition": "doeks-hello-world"}'
    request = AWSRequest(method="POST", url=guarded.url + "/v1/submitjob", data=b"{}",
                         headers={"Content-Type": "application/json", "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    SigV4Auth(Credentials(KEY, SECRET), "batch", "us-east-1").add_auth(request)
    refused = raw_call(guarded.url, "/v1/submitjob", body, headers=dict(request.headers.items()))
    assert (refused.status, refused.error_type) == (403, "InvalidSignatureException")
    assert "UNSIGNED-PAYLOAD" in refused.json["message"]
    names = [j["jobName"] for j in client(guarded.url).list_jobs(jobQueue="doeks-JQ1_OD", jobStatus="SUCCEEDED")["jobSummaryList"]]
    assert "swapped" not in names


def test_a_replayed_signed_submit_is_not_run_twice(guarded):
    body = b'{"jobName": "replayed", "jobQueue": "doeks-JQ1_OD", "jobDefinition": "doeks-hello-world"}'
    headers, _ = signed(guarded.url, "/v1/submitjob", body)
    first = raw_call(guarded.url, "/v1/submitjob", body, headers=headers)
    assert first.status == 200
    again = raw_call(guarded.url, "/v1/submitjob", body, headers=headers)
    assert (again.status, again.error_type) == (429, "TooManyRequestsException")  # SDKs retry it, signing anew
    assert "used already" in again.json["message"]
    batch = client(guarded.url)
    seen = {s["jobId"] for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
            for s in batch.list_jobs(jobQueue="doeks-JQ1_OD", jobStatus=status, filters=[{"name": "JOB_NAME", "values": ["replayed"]}])["jobSummaryList"]}
    assert seen == {first.json["jobId"]}
    # reads may repeat: two workers asking the same thing in the same second sign the same bytes
    headers, body = signed(guarded.url, "/v1/describejobqueues", b"{}")
    assert [raw_call(guarded.url, "/v1/describejobqueues", body, headers=headers).status for _ in range(2)] == [200, 200]


def test_the_secret_can_come_from_a_file_and_argv_warns(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("BATCH_EKS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("BATCH_EKS_SECRET_ACCESS_KEY", raising=False)
    served = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: served.append(app))
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    remote = ["local", "serve", "--host", "0.0.0.0", "--allow-remote", "--port", "0", "--access-key-id", KEY]
    assert cli_main([*remote, "--secret-access-key-file", str(secret_file)]) == 0
    assert served[-1].app.verifier.credentials == EngineCredentials(KEY, SECRET)
    assert "warning" not in capsys.readouterr().err
    assert cli_main([*remote, "--secret-access-key", SECRET]) == 0
    assert "`ps`" in capsys.readouterr().err
    assert cli_main([*remote, "--secret-access-key-file", str(tmp_path / "missing")]) == 2
    assert "cannot read --secret-access-key-file" in capsys.readouterr().err
    assert cli_main([*remote, "--secret-access-key-file", str(secret_file), "--secret-access-key", SECRET]) == 2
    assert "pick one" in capsys.readouterr().err
