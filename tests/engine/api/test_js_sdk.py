"""The AWS SDK for JavaScript (v3, in Node.js) works against the engine unchanged, browser guard included.

The SDK's packages come from the npm registry (installed once into ``.test-cache/js-sdk``, about 5 s).
Node.js and npm are on the project's machines; where they are missing the test is skipped and says so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDK_DIR = ROOT / ".test-cache" / "js-sdk"
PACKAGES = ["@aws-sdk/client-batch@3", "@aws-sdk/client-cloudwatch-logs@3"]
SCRIPT = """
const { BatchClient, SubmitJobCommand, DescribeJobsCommand, DescribeJobQueuesCommand } = require("@aws-sdk/client-batch");
const { CloudWatchLogsClient, DescribeLogGroupsCommand } = require("@aws-sdk/client-cloudwatch-logs");
const config = { endpoint: process.argv[2], region: "us-east-1", credentials: { accessKeyId: "js", secretAccessKey: "js" } };
(async () => {
  const batch = new BatchClient(config);
  const queues = await batch.send(new DescribeJobQueuesCommand({}));
  const job = await batch.send(new SubmitJobCommand({ jobName: "from-js", jobQueue: "doeks-JQ1_OD", jobDefinition: "doeks-hello-world" }));
  const described = await batch.send(new DescribeJobsCommand({ jobs: [job.jobId] }));
  const groups = await new CloudWatchLogsClient(config).send(new DescribeLogGroupsCommand({}));
  console.log(JSON.stringify({
    queues: queues.jobQueues.map((q) => q.jobQueueName),
    job: described.jobs[0].jobName,
    groups: Array.isArray(groups.logGroups),
  }));
})().catch((e) => { console.error(e.name + ": " + e.message); process.exit(1); });
"""


@pytest.fixture(scope="module")
def node_sdk() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are not on this machine: the JavaScript SDK check cannot run")
    if not (SDK_DIR / "node_modules" / "@aws-sdk" / "client-batch").exists():
        SDK_DIR.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(SDK_DIR), *PACKAGES],
            capture_output=True, text=True, timeout=300,
        )
        if result.returncode != 0:
            pytest.fail(f"npm install {' '.join(PACKAGES)} failed: {result.stderr[-2000:]}")
    script = SDK_DIR / "check.js"
    script.write_text(SCRIPT)
    return script


def test_the_javascript_sdk_submits_and_describes(engine, node_sdk):
    result = subprocess.run(["node", str(node_sdk), engine.url], capture_output=True, text=True, timeout=60, cwd=SDK_DIR)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer == {"queues": ["doeks-JQ1_OD", "doeks-JQ1_SPOT"], "job": "from-js", "groups": True}
