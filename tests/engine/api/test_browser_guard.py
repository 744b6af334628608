"""The engine refuses what a web page can make a browser send (issue 8's cross-site hole), over real HTTP.

Each row is one request as a browser would send it from a page of another origin (a "simple" cross-site
POST, a form, a ``fetch`` with a foreign ``Origin``, a DNS-rebound ``Host``), sent with ``http.client`` so
the headers are exactly these. After the table, nothing was submitted and no fault was set. The SDK clients
that must keep working (boto3, the AWS CLI, kubectl's client) are exercised by the rest of the suite through
the same guard; ``test_same_origin_and_sdk_requests_still_pass`` keeps the engine's own page and a
same-origin POST working.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse

import boto3
import pytest

from batch_eks_provider.local import LocalEngine
from batch_eks_provider.local.api.browser_guard import host_name

SUBMIT = json.dumps({"jobName": "xsite", "jobQueue": "doeks-JQ1_OD", "jobDefinition": "doeks-hello-world"})
EVIL = "http://evil.example"


@pytest.fixture(scope="module")
def engine():
    with LocalEngine(blueprint="data-on-eks", allowed_hosts=["batch-engine"]) as running:
        yield running


def send(engine, method: str, path: str, body: str | bytes | None = None, **headers: str) -> tuple[int, dict, bytes]:
    """One request with exactly these headers (``Host`` defaults to the engine's own address)."""
    netloc = urllib.parse.urlsplit(engine.url).netloc
    connection = http.client.HTTPConnection(netloc, timeout=10)
    try:
        names = {k.replace("_", "-"): v for k, v in headers.items()}
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", names.pop("Host", netloc))
        data = body.encode() if isinstance(body, str) else body
        for name, value in names.items():
            connection.putheader(name, value)
        if data is not None:
            connection.putheader("Content-Length", str(len(data)))
        connection.endheaders(data)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def job_names(engine) -> list[str]:
    batch = boto3.client("batch", endpoint_url=engine.url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return [s["jobName"] for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
            for s in batch.list_jobs(jobQueue="doeks-JQ1_OD", jobStatus=status)["jobSummaryList"]]


CROSS_SITE = [
    # (what a page does, method, path, body, headers, expected status)
    ("simple POST, text/plain, foreign Origin", "POST", "/v1/submitjob", SUBMIT,
     {"Content-Type": "text/plain", "Origin": EVIL}, 403),
    ("simple POST, text/plain, no Origin (sandboxed iframe or old browser)", "POST", "/v1/submitjob", SUBMIT,
     {"Content-Type": "text/plain"}, 415),
    ("HTML form, urlencoded", "POST", "/v1/submitjob", "jobName=xsite&jobQueue=doeks-JQ1_OD",
     {"Content-Type": "application/x-www-form-urlencoded", "Origin": EVIL}, 403),
    ("HTML form, urlencoded, Origin null", "POST", "/v1/submitjob", "a=b",
     {"Content-Type": "application/x-www-form-urlencoded", "Origin": "null"}, 403),
    ("HTML form, multipart, no Origin", "POST", "/v1/submitjob", "--x\r\n\r\n--x--",
     {"Content-Type": "multipart/form-data; boundary=x"}, 415),
    ("POST with no Content-Type", "POST", "/v1/submitjob", SUBMIT, {}, 415),
    ("fetch() JSON POST, foreign Origin", "POST", "/v1/submitjob", SUBMIT,
     {"Content-Type": "application/json", "Origin": EVIL}, 403),
    ("fetch() from another port of localhost", "POST", "/v1/submitjob", SUBMIT,
     {"Content-Type": "application/json", "Origin": "http://localhost:3000"}, 403),
    ("fetch() with Sec-Fetch-Site cross-site", "POST", "/v1/submitjob", SUBMIT,
     {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403),
    ("DNS rebinding: POST with a foreign Host", "POST", "/v1/submitjob", SUBMIT,
     {"Content-Type": "application/json", "Host": "evil.example:4566"}, 403),
    ("Logs, text/plain", "POST", "/", "{}",
     {"Content-Type": "text/plain", "X-Amz-Target": "Logs_20140328.DescribeLogGroups"}, 415),
    ("faults, text/plain", "POST", "/_local/faults", json.dumps({"throttle_rate": 1.0}),
     {"Content-Type": "text/plain"}, 415),
    ("faults, foreign Origin", "POST", "/_local/faults", json.dumps({"throttle_rate": 1.0}),
     {"Content-Type": "application/json", "Origin": EVIL}, 403),
    ("reclaim, form", "POST", "/_local/reclaim", "jobId=x",
     {"Content-Type": "application/x-www-form-urlencoded", "Origin": EVIL}, 403),
    ("delete a pod, foreign Origin", "DELETE", "/api/v1/namespaces/doeks-aws-batch/pods/p", None, {"Origin": EVIL}, 403),
]

REBOUND_READS = ["/", "/metrics", "/api/v1/pods", "/version", "/clusters/doeks-batch", "/_local/faults", "/_local/ui/logs?pod=x"]


@pytest.mark.parametrize(("case", "method", "path", "body", "headers", "status"), CROSS_SITE, ids=[c[0] for c in CROSS_SITE])
def test_cross_site_requests_are_refused(engine, case, method, path, body, headers, status):
    got, response_headers, payload = send(engine, method, path, body, **headers)
    assert got == status, (case, payload)
    answer = json.loads(payload)
    if path.startswith("/api"):
        assert answer["kind"] == "Status" and answer["code"] == status
    else:
        assert answer["__type"] == ("AccessDeniedException" if status == 403 else "UnsupportedMediaTypeException")
    assert response_headers.get("access-control-allow-origin") is None


def test_nothing_ran_after_the_cross_site_table(engine):
    for _, method, path, body, headers, _ in CROSS_SITE:
        send(engine, method, path, body, **headers)
    assert "xsite" not in job_names(engine)
    status, _, faults = send(engine, "GET", "/_local/faults")
    assert status == 200 and json.loads(faults)["throttle_rate"] == 0.0


@pytest.mark.parametrize("path", REBOUND_READS)
def test_a_rebound_host_cannot_read_anything(engine, path):
    port = urllib.parse.urlsplit(engine.url).port
    status, _, payload = send(engine, "GET", path, Host=f"evil.example:{port}")
    assert status == 403, payload
    assert "DNS rebinding" in json.loads(payload)["message"]


def test_same_origin_and_sdk_requests_still_pass(engine):
    port = urllib.parse.urlsplit(engine.url).port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"batch-engine:{port}", "127.0.0.1"):
        status, headers, page = send(engine, "GET", "/", Host=host)
        assert status == 200 and headers["content-type"].startswith("text/html"), host
    # the page's own origin may POST (a browser at the engine's URL), and an SDK sends no Origin at all
    own = send(engine, "POST", "/v1/describejobqueues", "{}", Content_Type="application/json", Origin=engine.url)
    assert own[0] == 200
    sdk = send(engine, "POST", "/v1/submitjob", SUBMIT.replace("xsite", "sdk"), Content_Type="application/json",
               Sec_Fetch_Site="same-origin")
    assert sdk[0] == 200
    logs = send(engine, "POST", "/", "{}", Content_Type="application/x-amz-json-1.1",
                X_Amz_Target="Logs_20140328.DescribeLogGroups")
    assert logs[0] == 200 and "logGroups" in json.loads(logs[2])
    assert "sdk" in job_names(engine)


@pytest.mark.parametrize(
    ("header", "name"),
    [("127.0.0.1:4566", "127.0.0.1"), ("[::1]:4566", "::1"), ("LocalHost.", "localhost"), ("evil.example:1", "evil.example"),
     ("::1", "::1")],
)
def test_host_names_are_read_as_browsers_send_them(header, name):
    assert host_name(header) == name
