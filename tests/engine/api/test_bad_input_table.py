"""Bad input through real HTTP: every refused request answers 400 with the protocol's error and a message
naming the field, the engine keeps serving, and a refused request creates nothing.

The table has hand-picked cases (cpu ``NaN``/``Infinity``/``1e400``, bodies nested 100-5000 deep, a
``nextToken`` holding nested JSON, Kubernetes query integers with 400 digits, admin bodies of every JSON
type) and a sweep over botocore's input shapes of every Batch operation the engine serves: each integer
member gets -1, 2**31, 2**63, 10**400, a string, a list, an object, ``true`` and ``null``; each string
member a list, an object, a number and ``true``. Raw ``http.client`` requests carry what boto3 refuses
to send; boto3 sends what it can (huge integers, ``NaN`` floats, ``NaN`` as a cpu string).

Expected answers: Batch ``ClientException``, EKS ``InvalidParameterException``, Kubernetes a ``Status``
with reason ``BadRequest``, admin routes ``{"__type": "ClientException", "message": ...}``, all 400.
A value AWS may accept (-1 where no minimum is documented, ``null`` = absent) must simply not be a 5xx.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
import pytest

from batch_eks_provider.local import EngineConfig, LocalEngine
from batch_eks_provider.local.api.batch import OPERATIONS
from batch_eks_provider.local.api.input_shapes import service_model
from tests.support.waits import wait_for, wait_for_job

QUEUE, DEFINITION, NAMESPACE = "doeks-JQ1_OD", "doeks-hello-world", "doeks-aws-batch"
CLUSTER_ARN = "arn:aws:eks:us-east-1:123456789012:cluster/doeks-batch"
POD = {"containers": [{"image": "busybox", "command": ["true"], "resources": {"limits": {"cpu": "0.25", "memory": "64Mi"}}}]}
SUBMIT = {"jobName": "bad", "jobQueue": QUEUE, "jobDefinition": DEFINITION}

# A valid request of each operation; the sweep puts one bad value into a copy of it.
BASE: dict[str, dict[str, Any]] = {
    "SubmitJob": SUBMIT,
    "RegisterJobDefinition": {"jobDefinitionName": "sweep", "type": "container", "eksProperties": {"podProperties": POD}},
    "CreateComputeEnvironment": {
        "computeEnvironmentName": "sweep-ce",
        "type": "MANAGED",
        "eksConfiguration": {"eksClusterArn": CLUSTER_ARN, "kubernetesNamespace": "sweep-ns"},
        "computeResources": {"type": "EC2", "allocationStrategy": "BEST_FIT_PROGRESSIVE", "maxvCpus": 4},
    },
    "UpdateComputeEnvironment": {"computeEnvironment": "doeks-CE1_OD"},
    "CreateJobQueue": {
        "jobQueueName": "sweep-q",
        "priority": 1,
        "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "doeks-CE1_OD"}],
        "jobStateTimeLimitActions": [{"reason": "r", "state": "RUNNABLE", "maxTimeSeconds": 600, "action": "CANCEL"}],
    },
    "UpdateJobQueue": {
        "jobQueue": QUEUE,
        "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "doeks-CE1_OD"}],
        "jobStateTimeLimitActions": [{"reason": "r", "state": "RUNNABLE", "maxTimeSeconds": 600, "action": "CANCEL"}],
    },
    "CreateSchedulingPolicy": {"name": "sweep"},
    "UpdateSchedulingPolicy": {"arn": "arn:aws:batch:us-east-1:123456789012:scheduling-policy/sweep-existing"},
    "ListJobs": {"jobQueue": QUEUE},
}
# Integer members with a documented minimum of 0 or more: -1 must be refused there too.
NON_NEGATIVE = {
    "computeResources.minvCpus", "computeResources.maxvCpus", "computeResources.desiredvCpus", "maxResults",
    "retryStrategy.attempts", "timeout.attemptDurationSeconds", "arrayProperties.size", "schedulingPriority",
    "schedulingPriorityOverride", "fairsharePolicy.shareDecaySeconds", "fairsharePolicy.computeReservation",
    "jobStateTimeLimitActions[].maxTimeSeconds",
}
INT32, INT64 = 2**31, 2**63


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    body: bytes | None
    kind: str  # batch | eks | k8s | admin
    field: str  # what the message must name ("" when no field can be named)
    may_succeed: bool = False  # a value AWS may accept: only "not a 5xx" is asserted


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def _batch(op: str, body: bytes, field: str, name: str, may_succeed: bool = False) -> Case:
    return Case(f"{op}-{name}", "POST", f"/v1/{op.lower()}", body, "batch", field, may_succeed)


def _set(request: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """A copy of ``request`` with ``value`` at ``path`` (``[]`` steps into the first list item)."""
    request = copy.deepcopy(request)
    node: Any = request
    for i, step in enumerate(path):
        last = i == len(path) - 1
        if step == "[]":
            if not node:
                node.append({})
            if last:
                node[0] = value
            else:
                node = node[0]
            continue
        if last:
            node[step] = value
        else:
            nxt = "[]" if path[i + 1] == "[]" else "{}"
            if not isinstance(node.get(step), (dict, list)):
                node[step] = [] if nxt == "[]" else {}
            node = node[step]
    return request


def _label(value: int) -> str:
    return {INT32: "2**31", INT64: "2**63"}.get(value, "1e+400")


def _members(shape, path: list[str], kinds: tuple[str, ...], depth: int = 0):
    if depth > 10:
        return
    if shape.type_name in kinds:
        yield path, shape
    elif shape.type_name == "structure":
        for name, member in shape.members.items():
            yield from _members(member, [*path, name], kinds, depth + 1)
    elif shape.type_name == "list":
        yield from _members(shape.member, [*path, "[]"], kinds, depth + 1)


def _unique(operation: str, request: dict[str, Any], n: int) -> dict[str, Any]:
    """A create request of its own name (and EKS cluster): one accepted case leaves nothing in the next one's way."""
    if operation == "CreateComputeEnvironment":
        request["computeEnvironmentName"] = f"sweep-ce-{n}"
        if isinstance(request.get("eksConfiguration"), dict):
            request["eksConfiguration"]["eksClusterArn"] = f"{CLUSTER_ARN}-sweep-{n}"
    elif operation == "CreateJobQueue":
        request["jobQueueName"] = f"sweep-q-{n}"
    elif operation == "CreateSchedulingPolicy":
        request["name"] = f"sweep-{n}"
    return request


def _sweep() -> list[Case]:
    model = service_model("batch")
    cases: list[Case] = []
    for name, _ in OPERATIONS.values():
        shape = model.operation_model(name).input_shape
        base = BASE.get(name, {})
        for path, member in _members(shape, [], ("integer", "long")):
            field, label = path[-1], ".".join(path).replace(".[]", "[]")
            too_big = [INT64, 10**400] if member.type_name == "long" else [INT32, INT64, 10**400]
            values: list[tuple[str, Any, bool]] = [(_label(v), v, False) for v in too_big]
            values += [("string", "5", False), ("list", [5], False), ("object", {"n": 5}, False), ("true", True, False)]
            values += [("-1", -1, label not in NON_NEGATIVE), ("null", None, True)]
            for tag, value, may in values:
                request = _unique(name, _set(base, path, value), len(cases))
                cases.append(_batch(name, _dumps(request), field, f"{label}={tag}", may))
        for path, member in _members(shape, [], ("string",)):
            if len(path) > 2 or "[]" in path:
                continue
            label = ".".join(path)
            for tag, value in (("list", ["x"]), ("object", {"x": "y"}), ("number", 5), ("true", True)):
                cases.append(_batch(name, _dumps(_set(base, path, value)), path[-1], f"{label}={tag}"))
    return cases


def _resources(cpu: str = "1", memory: str = "64Mi", gpu: str | None = None, section: str = "limits") -> dict:
    values = {"cpu": cpu, "memory": memory, **({"nvidia.com/gpu": gpu} if gpu is not None else {})}
    return {"limits": values} if section == "limits" else {"limits": {"cpu": "4", "memory": memory}, "requests": {"cpu": cpu}}


def _resource_cases() -> list[Case]:
    cases = []
    bad_cpu = ["NaN", "nan", "Infinity", "-Infinity", "inf", "sNaN", "1e400", "1E+400", "9" * 400, "1_000", "²", "0x10"]
    for cpu in bad_cpu:
        for section in ("limits", "requests"):
            pod = {"containers": [{"image": "busybox", "command": ["true"], "resources": _resources(cpu=cpu, section=section)}]}
            register = {"jobDefinitionName": "cpu", "type": "container", "eksProperties": {"podProperties": pod}}
            cases.append(_batch("RegisterJobDefinition", _dumps(register), "cpu", f"cpu={cpu[:12]}-{section}"))
            override = {"podProperties": {"containers": [{"resources": _resources(cpu=cpu, section=section)}]}}
            cases.append(_batch("SubmitJob", _dumps({**SUBMIT, "eksPropertiesOverride": override}), "cpu", f"cpu={cpu[:12]}-{section}"))
    for memory in ["NaNMi", "²Mi", "9" * 5000 + "Mi", "1e400Mi", "-5Mi"]:
        override = {"podProperties": {"containers": [{"resources": _resources(memory=memory)}]}}
        cases.append(_batch("SubmitJob", _dumps({**SUBMIT, "eksPropertiesOverride": override}), "memory", f"memory={memory[:12]}"))
    for gpu in ["NaN", "²", "9" * 5000, "-1", "1.5"]:
        override = {"podProperties": {"containers": [{"resources": _resources(gpu=gpu)}]}}
        cases.append(_batch("SubmitJob", _dumps({**SUBMIT, "eksPropertiesOverride": override}), "gpu", f"gpu={gpu[:12]}"))
    for raw_weight in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
        body = b'{"name": "w", "fairsharePolicy": {"shareDistribution": [{"shareIdentifier": "a", "weightFactor": %s}]}}' % raw_weight
        cases.append(_batch("CreateSchedulingPolicy", body, "weightFactor", f"weightFactor={raw_weight.decode()}"))
    cases.append(_batch("SubmitJob", b'{"jobName": "j", "jobQueue": "%s", "jobDefinition": "%s", "timeout": {"attemptDurationSeconds": NaN}}'
                        % (QUEUE.encode(), DEFINITION.encode()), "attemptDurationSeconds", "attemptDurationSeconds=NaN"))
    return cases


def _nested(depth: int, kind: str = "object") -> str:
    return ('{"a":' * depth + "1" + "}" * depth) if kind == "object" else ("[" * depth + "]" * depth)


def _depth_cases() -> list[Case]:
    cases = []
    for depth in (100, 600, 900, 5000):
        field = "" if depth >= 5000 else "parameters"  # beyond the parser's own limit no member can be named
        nested = _nested(depth)
        cases.append(_batch("SubmitJob", f'{{"jobName": "j", "jobQueue": "{QUEUE}", "jobDefinition": "{DEFINITION}", "parameters": {nested}}}'.encode(),
                            field, f"depth{depth}-parameters"))
        cases.append(_batch("SubmitJob", f'{{"jobName": "j", "jobQueue": "{QUEUE}", "jobDefinition": "{DEFINITION}", "unknownMember": {_nested(depth, "list")}}}'.encode(),
                            "" if depth >= 5000 else "unknownMember", f"depth{depth}-unknown-member"))
        cases.append(_batch("RegisterJobDefinition", f'{{"jobDefinitionName": "d", "type": "container", "eksProperties": {nested}}}'.encode(),
                            "" if depth >= 5000 else "eksProperties", f"depth{depth}-eksProperties"))
        cases.append(_batch("DescribeJobs", _nested(depth).encode(), "" if depth >= 5000 else "a", f"depth{depth}-whole-body"))
        cases.append(Case(f"faults-depth{depth}", "POST", "/_local/faults", f'{{"throttle_rate": {nested}}}'.encode(), "admin",
                          "" if depth >= 5000 else "throttle_rate"))
        cases.append(Case(f"reclaim-depth{depth}", "POST", "/_local/reclaim", f'{{"jobId": {_nested(depth, "list")}}}'.encode(), "admin",
                          "" if depth >= 5000 else "jobId"))
    return cases


def _token(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode() if not isinstance(position, bytes) else position).decode()


def _token_cases() -> list[Case]:
    tokens = {
        "nested-900": _token(_nested(900, "list").encode()),
        "nested-5000": _token(_nested(5000, "list").encode()),
        "nested-object": _token(_nested(700).encode()),
        "list-of-objects": _token([{"a": 1}]),
        "nan": _token(b"[NaN]"),
        "huge-int": _token([10**400]),
        "nested-list-key": _token([[1, 2], "x"]),
        "not-base64": "%%%not-base64%%%",
        "empty-list": _token([]),
        "object": _token({"a": 1}),
        "long": "A" * 100_000,
    }
    cases = []
    for op, base in (("ListJobs", {"jobQueue": QUEUE}), ("DescribeJobDefinitions", {}), ("DescribeJobQueues", {}),
                     ("DescribeComputeEnvironments", {}), ("ListSchedulingPolicies", {})):
        for name, token in tokens.items():
            cases.append(_batch(op, _dumps({**base, "nextToken": token}), "nextToken", f"nextToken={name}"))
    return cases


def _k8s_cases() -> list[Case]:
    log = f"/api/v1/namespaces/{NAMESPACE}/pods/{{pod}}/log"
    cases = []
    for param in ("sinceSeconds", "tailLines", "limitBytes"):
        for tag, value in (("400-digits", "9" * 400), ("5000-digits", "9" * 5000), ("int64+1", str(INT64)), ("-1", "-1"),
                           ("float", "1.5"), ("word", "abc"), ("fullwidth", "１２"), ("underscore", "1_0"), ("nan", "NaN"),
                           ("space", "%201")):
            query = urllib.parse.quote(value) if tag != "space" else value
            cases.append(Case(f"pod-log-{param}={tag}", "GET", f"{log}?{param}={query}", None, "k8s", param))
    for path in ("/api/v1/pods", f"/api/v1/namespaces/{NAMESPACE}/pods"):
        for tag, value in (("400-digits", "9" * 400), ("word", "abc"), ("-1", "-1")):
            cases.append(Case(f"list-pods-limit={tag}{path.count('/')}", "GET", f"{path}?limit={value}", None, "k8s", "limit"))
    nested = base64.urlsafe_b64encode(_nested(900, "list").encode()).decode()
    for tag, token in (("nested", nested), ("nested-object", base64.urlsafe_b64encode(_nested(900).encode()).decode()),
                       ("huge-start", base64.urlsafe_b64encode(json.dumps({"start": 10**400}).encode()).decode()),
                       ("negative-start", base64.urlsafe_b64encode(b'{"start": -5}').decode())):
        cases.append(Case(f"list-pods-continue={tag}", "GET", f"/api/v1/pods?limit=1&continue={token}", None, "k8s-continue", "continue"))
    return cases


def _admin_cases() -> list[Case]:
    cases = []
    values = {"list": ["a"], "object": {"a": 1}, "number": 5, "true": True, "null": None, "huge": 10**400}
    for tag, value in values.items():
        cases.append(Case(f"reclaim-jobId={tag}", "POST", "/_local/reclaim", _dumps({"jobId": value}), "admin", "jobId"))
    for tag, body in (("list-body", b"[1]"), ("string-body", b'"x"'), ("missing", b"{}"), ("not-json", b"{x")):
        cases.append(Case(f"reclaim-{tag}", "POST", "/_local/reclaim", body, "admin", "" if tag in ("list-body", "string-body", "not-json") else "jobId"))
    for tag, raw_value in (("list", b"[1]"), ("object", b"{}"), ("string", b'"x"'), ("true", b"true"), ("nan", b"NaN"),
                           ("infinity", b"Infinity"), ("1e400", b"1e400"), ("-1", b"-1"), ("10**400", b"9" * 400)):
        cases.append(Case(f"clock-seconds={tag}", "POST", "/_local/clock/advance", b'{"seconds": %s}' % raw_value, "admin", "seconds"))
        for key in ("throttle_rate", "spot_interruption_rate"):
            cases.append(Case(f"faults-{key}={tag}", "POST", "/_local/faults", b'{"%s": %s}' % (key.encode(), raw_value), "admin", key))
    for tag, value in (("list", ["x"]), ("object", {"a": 1}), ("number", 5), ("true", True)):
        cases.append(Case(f"faults-compute_environment={tag}", "POST", "/_local/faults",
                          _dumps({"spot_interruption_rate": 1, "compute_environment": value}), "admin", "compute_environment"))
        cases.append(Case(f"clusters-version={tag}", "POST", "/_local/clusters/doeks-batch", _dumps({"version": value}), "admin", "version"))
    cases.append(Case("faults-unknown-key-list-body", "POST", "/_local/faults", b"[1, 2]", "admin", ""))
    return cases


def _eks_cases() -> list[Case]:
    cases = []
    for tag, value in (("400-digits", "9" * 400), ("5000-digits", "9" * 5000), ("nan", "NaN"), ("-1", "-1"), ("float", "1.5"),
                       ("fullwidth", "１２"), ("zero", "0"), ("101", "101")):
        cases.append(Case(f"eks-maxResults={tag}", "GET", f"/clusters?maxResults={urllib.parse.quote(value)}", None, "eks", "maxResults"))
    cases.append(Case("eks-nextToken=unknown", "GET", "/clusters?nextToken=%5B%5B%5B", None, "eks", "nextToken"))
    return cases


CASES: list[Case] = _resource_cases() + _depth_cases() + _token_cases() + _k8s_cases() + _admin_cases() + _eks_cases() + _sweep()


@pytest.fixture(scope="module")
def engine():
    """One engine for the table (a refused request changes nothing); it keeps pods long enough to read logs."""
    with LocalEngine(blueprint="data-on-eks", config=EngineConfig(pod_retention_seconds=3600.0)) as running:
        yield running


def _client(engine, service: str = "batch"):
    return boto3.client(service, endpoint_url=engine.url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def pod_name(engine) -> str:
    """A finished pod whose log the Kubernetes cases read (and the scheduling policy the sweep updates)."""
    batch = _client(engine)
    batch.create_scheduling_policy(name="sweep-existing")
    job_id = batch.submit_job(**SUBMIT)["jobId"]
    return wait_for_job(batch, job_id)["eksAttempts"][0]["podName"]


def send(engine, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = engine.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        headers = {"Content-Type": "application/json", "Authorization": "Bearer k8s-aws-v1.anything"} if body is None else {"Content-Type": "application/json"}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _counts(engine) -> dict[str, int]:
    """What a refused request must not have created (read from the engine's state: it answers at once)."""
    state = engine.engine.state
    return {
        "jobs": len(state.jobs),
        "job definitions": len(state.job_definitions),
        "job queues": len(state.job_queues),
        "compute environments": len(state.compute_environments),
        "scheduling policies": len(state.scheduling_policies),
    }


def _problem(case: Case, status: int, headers: dict[str, str], payload: bytes) -> str | None:
    """What is wrong with the answer to ``case``, or None."""
    if status >= 500:
        return f"answered {status}: {payload[:300]!r}"
    if case.may_succeed and status < 300:
        return None
    if status != 400:
        return f"answered {status}, not 400: {payload[:300]!r}"
    try:
        body = json.loads(payload)
    except ValueError:
        return f"answered a body that is not JSON: {payload[:300]!r}"
    if case.kind in ("k8s", "k8s-continue"):
        if body.get("kind") != "Status" or body.get("reason") != "BadRequest" or body.get("code") != 400:
            return f"not a Kubernetes BadRequest Status: {body}"
        message = body.get("message", "")
    else:
        expected = {"batch": "ClientException", "admin": "ClientException", "eks": "InvalidParameterException"}[case.kind]
        if body.get("__type") != expected:
            return f"__type {body.get('__type')!r}, expected {expected}: {body}"
        if case.kind != "admin" and headers.get("x-amzn-errortype") != expected:
            return f"x-amzn-ErrorType {headers.get('x-amzn-errortype')!r}, expected {expected}"
        message = body.get("message", "")
    if not message:
        return "the error has no message"
    if case.may_succeed:
        return None  # refused for a reason of its own (a sibling missing, an ECS-only section): fine
    if case.field and case.field.lower() not in message.lower():
        return f"message does not name {case.field!r}: {message[:300]}"
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_answers_400_naming_the_field_and_creates_nothing(engine, pod_name, case):
    before = _counts(engine)
    status, headers, payload = send(engine, case.method, case.path.replace("{pod}", pod_name), case.body)
    problem = _problem(case, status, headers, payload)
    assert problem is None, f"{case.method} {case.path[:120]}: {problem}"
    if status == 400:
        assert _counts(engine) == before, f"a refused request changed the engine: {before} -> {_counts(engine)}"
    health = send(engine, "GET", "/_local/health")
    assert health[0] == 200, health
    faults = json.loads(send(engine, "GET", "/_local/faults")[2])
    if faults.get("throttle_rate") or faults.get("server_error_rate") or faults.get("spot_interruption_rate"):
        send(engine, "POST", "/_local/faults", _dumps({"throttle_rate": 0, "server_error_rate": 0, "spot_interruption_rate": 0}))
        pytest.fail(f"a refused fault setting was applied: {faults}")


def test_table_covers_every_reported_case():
    ids = {c.id for c in CASES}
    assert len(CASES) >= 191
    for expected in ("SubmitJob-cpu=NaN-limits", "SubmitJob-cpu=Infinity-requests", "RegisterJobDefinition-cpu=1e400-limits",
                     "SubmitJob-depth600-parameters", "SubmitJob-depth900-unknown-member", "ListJobs-nextToken=nested-900",
                     "pod-log-sinceSeconds=400-digits", "reclaim-jobId=list", "SubmitJob-timeout.attemptDurationSeconds=1e+400"):
        assert expected in ids, expected


def test_boto3_sends_huge_integers_and_nan_floats_and_is_refused(engine):
    """What boto3 itself sends: it checks types, not ranges, and serialises ``nan`` as JSON ``NaN``."""
    batch = _client(engine)
    before = _counts(engine)
    calls = [
        ("attemptDurationSeconds", lambda: batch.submit_job(**SUBMIT, timeout={"attemptDurationSeconds": 10**400})),
        ("attemptDurationSeconds", lambda: batch.submit_job(**SUBMIT, timeout={"attemptDurationSeconds": 2**31})),
        ("size", lambda: batch.submit_job(**SUBMIT, arrayProperties={"size": 2**63})),
        ("attempts", lambda: batch.submit_job(**SUBMIT, retryStrategy={"attempts": 10**400})),
        ("schedulingPriorityOverride", lambda: batch.submit_job(**SUBMIT, schedulingPriorityOverride=-(2**40))),
        ("maxvCpus", lambda: batch.update_compute_environment(computeEnvironment="doeks-CE1_OD", computeResources={"maxvCpus": 2**31})),
        ("priority", lambda: batch.update_job_queue(jobQueue=QUEUE, priority=10**400)),
        ("weightFactor", lambda: batch.create_scheduling_policy(name="nan", fairsharePolicy={"shareDistribution": [{"shareIdentifier": "a", "weightFactor": float("nan")}]})),
        ("weightFactor", lambda: batch.create_scheduling_policy(name="inf", fairsharePolicy={"shareDistribution": [{"shareIdentifier": "a", "weightFactor": float("inf")}]})),
        ("cpu", lambda: batch.submit_job(**SUBMIT, eksPropertiesOverride={"podProperties": {"containers": [{"resources": {"limits": {"cpu": "NaN", "memory": "64Mi"}}}]}})),
        ("cpu", lambda: batch.submit_job(**SUBMIT, eksPropertiesOverride={"podProperties": {"containers": [{"resources": {"limits": {"cpu": "Infinity", "memory": "64Mi"}}}]}})),
        ("cpu", lambda: batch.submit_job(**SUBMIT, eksPropertiesOverride={"podProperties": {"containers": [{"resources": {"limits": {"cpu": "1e400", "memory": "64Mi"}}}]}})),
        ("maxResults", lambda: batch.list_jobs(jobQueue=QUEUE, maxResults=2**63)),
    ]
    for field, call in calls:
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            call()
        error = raised.value.response["Error"]
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, error
        assert error["Code"] == "ClientException", error
        assert field in error["Message"], error
    assert _counts(engine) == before
    assert batch.describe_job_queues(jobQueues=[QUEUE])["jobQueues"][0]["priority"] != 10**400


def test_the_largest_timeout_is_kept_and_the_job_runs(engine):
    """An int32 timeout is accepted, set on the job, and the scheduler keeps working with it."""
    batch = _client(engine)
    job_id = batch.submit_job(**SUBMIT, timeout={"attemptDurationSeconds": 2**31 - 1})["jobId"]
    job = wait_for_job(batch, job_id)
    assert job["status"] == "SUCCEEDED", job.get("statusReason")
    assert job["timeout"] == {"attemptDurationSeconds": 2**31 - 1}
    other = batch.submit_job(**SUBMIT)["jobId"]  # the scheduler still runs the next job
    assert wait_for(lambda: wait_for_job(batch, other)["status"] == "SUCCEEDED", what="a later job to succeed")
