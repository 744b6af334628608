"""A real browser on an attacker's page cannot make the engine run anything (issue 8's cross-site hole).

Headless Chromium opens a page served from another loopback port (another origin, as any web site is)
that tries what a hostile page can: a ``no-cors`` ``fetch`` POST of a SubmitJob body as ``text/plain``, a
JSON ``fetch`` (the browser's CORS preflight), HTML forms posted to ``/v1/submitjob`` and
``/_local/faults``. Then Chromium, told that ``evil.example`` resolves to 127.0.0.1 (what DNS rebinding
achieves), opens the engine's port under that name and tries a same-origin submit. Afterwards the engine has
run no job of the page's and no fault is set, while the engine's own page still opens at its URL.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
import urllib.request

import boto3
import pytest

from batch_eks_provider.local import LocalEngine
from tests.support.browser import CHROMIUM_ARGS

JOB_NAME = "xsite-browser"
ATTACK_PAGE = """<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="submit" method="POST" action="{engine}/v1/submitjob" enctype="text/plain" target="sink">
  <input name='{{"jobName": "{job}", "jobQueue": "doeks-JQ1_OD", "jobDefinition": "doeks-hello-world", "x": "' value='"}}'>
</form>
<form id="faults" method="POST" action="{engine}/_local/faults" target="sink">
  <input name="throttle_rate" value="1.0">
</form>
<script>
const body = JSON.stringify({{jobName: "{job}", jobQueue: "doeks-JQ1_OD", jobDefinition: "doeks-hello-world"}});
async function attack() {{
  const results = [];
  try {{ await fetch("{engine}/v1/submitjob", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body}});
        results.push("no-cors sent"); }} catch (e) {{ results.push("no-cors failed"); }}
  try {{ await fetch("{engine}/v1/submitjob", {{method: "POST", headers: {{"Content-Type": "application/json"}}, body}});
        results.push("json read"); }} catch (e) {{ results.push("json blocked"); }}
  for (const id of ["submit", "faults"]) {{
    await new Promise((resolve) => {{ document.getElementById("sink").onload = resolve; document.getElementById(id).submit(); }});
    results.push(id + " posted");
  }}
  document.title = "done:" + results.join(",");
}}
attack();
</script></body></html>"""
REBOUND_SCRIPT = """async () => {
  const r = await fetch("/v1/submitjob", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({jobName: "%s", jobQueue: "doeks-JQ1_OD", jobDefinition: "doeks-hello-world"})});
  return r.status;
}""" % JOB_NAME


class _AttackerSite:
    """A web site on another loopback port serving one page."""

    def __init__(self, page: str) -> None:
        encoded = page.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "_AttackerSite":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _jobs_named(engine_url: str, name: str) -> list[str]:
    batch = boto3.client("batch", endpoint_url=engine_url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return [
        summary["jobId"]
        for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
        for summary in batch.list_jobs(jobQueue="doeks-JQ1_OD", jobStatus=status, filters=[{"name": "JOB_NAME", "values": [name]}])[
            "jobSummaryList"
        ]
    ]


@pytest.mark.timeout(300)
def test_an_attacker_page_in_a_real_browser_runs_nothing(chromium):
    from playwright.sync_api import sync_playwright

    with LocalEngine(blueprint="data-on-eks") as engine, _AttackerSite(ATTACK_PAGE.format(engine=engine.url, job=JOB_NAME)) as site:
        port = urllib.parse.urlsplit(engine.url).port
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP evil.example 127.0.0.1"]
            )
            try:
                page = browser.new_page()
                page.goto(site.url)
                page.wait_for_function("document.title.startsWith('done:')", timeout=60_000)
                tried = page.title()

                rebound = page.goto(f"http://evil.example:{port}/")
                rebound_status = rebound.status if rebound else None
                rebound_text = page.content()
                rebound_submit = page.evaluate(REBOUND_SCRIPT)

                own = page.goto(engine.url + "/")
                own_status, own_title = (own.status if own else None), page.title()
            finally:
                browser.close()

        print(f"attacker page: {tried}; rebound page {rebound_status}, rebound submit {rebound_submit}; own page {own_status}")
        assert tried == "done:no-cors sent,json blocked,submit posted,faults posted"  # every attempt was made
        assert rebound_status == 403 and "DNS rebinding" in rebound_text
        assert rebound_submit == 403
        assert _jobs_named(engine.url, JOB_NAME) == []
        faults = json.loads(urllib.request.urlopen(engine.url + "/_local/faults", timeout=5).read())
        assert faults["throttle_rate"] == 0.0
        assert own_status == 200 and own_title
