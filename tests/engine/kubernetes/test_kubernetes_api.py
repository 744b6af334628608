"""The engine's Kubernetes API through the official ``kubernetes`` client: discovery, namespaces, nodes, pods."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.support.waits import wait_for, wait_for_job
from tests.support.blueprint import NAMESPACE, submit_command, submit_gated_job
from tests.support.kubernetes import core_v1, running_pod


def test_discovery_answers_like_an_api_server(engine, core):
    api_client = core.api_client
    version = client.VersionApi(api_client).get_code()
    assert (version.major, version.minor) == ("1", "30")
    assert version.git_version.startswith("v1.30.")
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]
    resources = {r.name: r for r in core.get_api_resources().resources}
    assert set(resources) == {"events", "namespaces", "nodes", "pods", "pods/log"}
    assert resources["pods"].namespaced and not resources["nodes"].namespaced
    # what kubectl resolves `get ns`, `get no`, `get po`, `get all` and `-w` by
    assert [resources[r].short_names for r in ("namespaces", "nodes", "pods", "events")] == [["ns"], ["no"], ["po"], ["ev"]]
    assert resources["pods"].categories == ["all"] and resources["nodes"].categories is None
    assert resources["pods"].verbs == ["delete", "get", "list", "watch"]
    assert "watch" in resources["namespaces"].verbs and "watch" in resources["nodes"].verbs


def test_namespaces_are_the_compute_environment_ones_and_the_system_ones(core):
    names = [ns.metadata.name for ns in core.list_namespace().items]
    assert names == sorted(["amazon-cloudwatch", "default", "kube-node-lease", "kube-public", "kube-system", NAMESPACE])
    assert core.read_namespace(NAMESPACE).status.phase == "Active"
    with pytest.raises(ApiException) as raised:
        core.read_namespace("does-not-exist")
    assert raised.value.status == 404
    status = json.loads(raised.value.body)
    assert (status["kind"], status["reason"], status["message"]) == (
        "Status",
        "NotFound",
        'namespaces "does-not-exist" not found',
    )


def test_a_running_job_shows_its_node_and_pod_as_batch_sets_them(engine, batch, core, tmp_path):
    gate = tmp_path / "gate"
    job_id = submit_gated_job(batch, gate)
    pod = running_pod(core, job_id)
    job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    ce = batch.describe_compute_environments(computeEnvironments=["doeks-CE1_OD"])["computeEnvironments"][0]

    assert pod.metadata.name == job["eksProperties"]["podProperties"]["podName"]
    assert pod.metadata.namespace == NAMESPACE
    assert pod.metadata.labels["batch.amazonaws.com/job-id"] == job_id
    assert pod.metadata.labels["batch.amazonaws.com/compute-environment-uuid"] == ce["uuid"]
    assert pod.spec.node_name == job["eksProperties"]["podProperties"]["nodeName"]
    assert pod.spec.restart_policy == "Never" and pod.spec.host_network is True
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert env["AWS_BATCH_JOB_ID"] == job_id and env["AWS_BATCH_JOB_ATTEMPT"] == "1"
    assert pod.status.container_statuses[0].state.running is not None
    assert pod.status.host_ip and pod.status.start_time is not None

    node = core.read_node(pod.spec.node_name)
    assert node.metadata.labels["batch.amazonaws.com/compute-environment-uuid"] == ce["uuid"]
    assert node.metadata.labels["node.kubernetes.io/instance-type"].split(".")[0] in ("m5", "c5", "r5")
    assert sorted((t.key, t.effect) for t in node.spec.taints) == [
        ("batch.amazonaws.com/batch-node", "NoExecute"),
        ("batch.amazonaws.com/batch-node", "NoSchedule"),
    ]
    assert int(node.status.capacity["cpu"]) >= 1
    assert node.status.allocatable["memory"].endswith("Ki")
    assert int(node.status.allocatable["memory"][:-2]) < int(node.status.capacity["memory"][:-2])
    ready = [c for c in node.status.conditions if c.type == "Ready"][0]
    assert ready.status == "True"
    by_ce = core.list_node(label_selector=f"batch.amazonaws.com/compute-environment-uuid={ce['uuid']}").items
    assert [n.metadata.name for n in by_ce] == [node.metadata.name]

    gate.touch()
    finished = wait_for_job(batch, job_id)
    assert finished["status"] == "SUCCEEDED"
    pod = core.read_namespaced_pod(pod.metadata.name, NAMESPACE)
    assert pod.status.phase == "Succeeded"
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    assert terminated.container_id == finished["eksAttempts"][0]["containers"][0]["containerID"]


def test_failed_container_reports_exit_code_and_reason(batch, core):
    job_id = submit_command(batch, "echo bad; exit 7")
    wait_for_job(batch, job_id)
    (pod,) = core.list_namespaced_pod(NAMESPACE, label_selector=f"batch.amazonaws.com/job-id={job_id}").items
    assert pod.status.phase == "Failed"
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (7, "Error")


def test_pod_lists_filter_by_label_and_field_selectors(batch, core):
    first, second = submit_command(batch, "echo a"), submit_command(batch, "exit 1")
    wait_for_job(batch, first), wait_for_job(batch, second)
    everything = core.list_pod_for_all_namespaces().items
    assert {p.metadata.labels["batch.amazonaws.com/job-id"] for p in everything} == {first, second}
    assert core.list_namespaced_pod("default").items == []

    only_first = core.list_namespaced_pod(
        NAMESPACE, label_selector=f"batch.amazonaws.com/job-id={first}"
    ).items
    assert [p.metadata.labels["batch.amazonaws.com/job-id"] for p in only_first] == [first]
    not_first = core.list_namespaced_pod(
        NAMESPACE, label_selector=f"batch.amazonaws.com/job-id notin ({first})"
    ).items
    assert [p.metadata.labels["batch.amazonaws.com/job-id"] for p in not_first] == [second]
    with_label = core.list_namespaced_pod(
        NAMESPACE, label_selector="batch.amazonaws.com/node-uid,!missing-label"
    ).items
    assert len(with_label) == 2

    failed = core.list_namespaced_pod(NAMESPACE, field_selector="status.phase=Failed").items
    assert [p.metadata.labels["batch.amazonaws.com/job-id"] for p in failed] == [second]
    name = failed[0].metadata.name
    assert [
        p.metadata.name
        for p in core.list_pod_for_all_namespaces(field_selector=f"metadata.name={name}").items
    ] == [name]
    on_node = core.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={failed[0].spec.node_name}"
    ).items
    assert name in [p.metadata.name for p in on_node]

    page = core.list_namespaced_pod(NAMESPACE, limit=1)
    assert len(page.items) == 1 and page.metadata._continue
    rest = core.list_namespaced_pod(NAMESPACE, limit=1, _continue=page.metadata._continue)
    assert len(rest.items) == 1 and rest.items[0].metadata.name != page.items[0].metadata.name
    assert not rest.metadata._continue

    with pytest.raises(ApiException) as raised:
        core.list_namespaced_pod(NAMESPACE, field_selector="spec.hostname=x")
    assert raised.value.status == 400
    assert json.loads(raised.value.body)["message"] == "field label not supported: spec.hostname"
    with pytest.raises(ApiException) as raised:
        core.list_namespaced_pod(NAMESPACE, label_selector="a in (b")
    assert raised.value.status == 400


def test_unknown_pods_and_resources_answer_404_status_objects(core):
    for call in (
        lambda: core.read_namespaced_pod("aws-batch.nope", NAMESPACE),
        lambda: core.read_namespaced_pod_log("aws-batch.nope", NAMESPACE),
        lambda: core.delete_namespaced_pod("aws-batch.nope", NAMESPACE),
        lambda: core.read_node("ip-10-9-9-9.ec2.internal"),
        lambda: core.list_namespaced_service(NAMESPACE),
    ):
        with pytest.raises(ApiException) as raised:
            call()
        assert raised.value.status == 404
        assert json.loads(raised.value.body)["reason"] == "NotFound"


def test_deleting_a_running_pod_stops_its_attempt(batch, core, tmp_path):
    job_id = submit_gated_job(batch, tmp_path / "never")
    pod = running_pod(core, job_id)
    deleted = core.delete_namespaced_pod(pod.metadata.name, NAMESPACE)
    assert deleted.metadata.deletion_timestamp is not None
    job = wait_for_job(batch, job_id)
    assert job["status"] == "FAILED"
    assert "deleted" in job["statusReason"]
    wait_for(
        lambda: (
            not core.list_namespaced_pod(NAMESPACE, field_selector=f"metadata.name={pod.metadata.name}").items
        ),
        what="the deleted pod to disappear",
    )


def test_a_running_pod_deleted_through_the_api_is_removed_once_it_stops(manual_engine, manual_batch, tmp_path):
    """Not after the retention time (30 s on this engine's clock, which does not move here): at once."""
    core = core_v1(manual_engine.url)
    job_id = submit_command(manual_batch, "echo before; while true; do sleep 0.05; done")
    pod = running_pod(core, job_id)
    work_dir = manual_engine.engine.scheduler.runtime.work_root / pod.metadata.name
    assert work_dir.is_dir()
    core.delete_namespaced_pod(pod.metadata.name, NAMESPACE, grace_period_seconds=0)
    manual_engine_admin_advance(manual_engine, 5)  # past the termination grace period: SIGKILL if SIGTERM was ignored
    job = wait_for_job(manual_batch, job_id)
    assert job["status"] == "FAILED" and "deleted" in job["statusReason"]
    wait_for(lambda: pod.metadata.name not in manual_engine.engine.state.pods, timeout=10, what="the pod record to go")
    assert not work_dir.exists()
    with pytest.raises(ApiException) as raised:
        core.read_namespaced_pod(pod.metadata.name, NAMESPACE)
    assert raised.value.status == 404


def manual_engine_admin_advance(local, seconds: float) -> None:
    request = urllib.request.Request(
        f"{local.url}/_local/clock/advance",
        data=json.dumps({"seconds": seconds}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()


def test_deleting_a_finished_pod_removes_it_at_once(batch, core):
    job_id = submit_command(batch, "echo done")
    wait_for_job(batch, job_id)
    (pod,) = core.list_namespaced_pod(NAMESPACE, label_selector=f"batch.amazonaws.com/job-id={job_id}").items
    core.delete_namespaced_pod(pod.metadata.name, NAMESPACE)
    with pytest.raises(ApiException) as raised:
        core.read_namespaced_pod(pod.metadata.name, NAMESPACE)
    assert raised.value.status == 404


def test_gpu_nodes_show_nvidia_gpus_in_capacity(batch, core):
    ce = batch.create_compute_environment(
        computeEnvironmentName="gpu-ce",
        type="MANAGED",
        eksConfiguration={
            "eksClusterArn": "arn:aws:eks:us-east-1:123456789012:cluster/doeks-batch",
            "kubernetesNamespace": "gpu-jobs",
        },
        computeResources={
            "type": "EC2",
            "allocationStrategy": "BEST_FIT_PROGRESSIVE",
            "minvCpus": 4,
            "maxvCpus": 8,
            "instanceTypes": ["g4dn.xlarge"],
            "subnets": ["subnet-1"],
            "securityGroupIds": ["sg-1"],
            "instanceRole": "arn:aws:iam::123456789012:instance-profile/x",
        },
    )
    uuid = batch.describe_compute_environments(computeEnvironments=[ce["computeEnvironmentArn"]])[
        "computeEnvironments"
    ][0]["uuid"]
    nodes = wait_for(
        lambda: core.list_node(label_selector=f"batch.amazonaws.com/compute-environment-uuid={uuid}").items,
        what="the minvCpus node of the GPU compute environment",
    )
    assert nodes[0].metadata.labels["node.kubernetes.io/instance-type"] == "g4dn.xlarge"
    assert nodes[0].status.capacity["nvidia.com/gpu"] == nodes[0].status.allocatable["nvidia.com/gpu"] == "1"
    assert nodes[0].status.capacity["cpu"] == "4"
    assert "gpu-jobs" in [ns.metadata.name for ns in core.list_namespace().items]


def test_watch_reports_a_pod_added_modified_and_deleted(batch, core, tmp_path):
    from kubernetes import watch

    gate = tmp_path / "gate"
    job_id = submit_gated_job(batch, gate)
    seen, deleted = [], False
    watcher = watch.Watch()
    for event in watcher.stream(
        core.list_namespaced_pod, NAMESPACE, label_selector=f"batch.amazonaws.com/job-id={job_id}", timeout_seconds=30
    ):
        pod = event["object"]
        waiting = [s.state.waiting.reason for s in pod.status.container_statuses or [] if s.state.waiting]
        seen.append((event["type"], pod.status.phase, *waiting, *(["deleting"] if pod.metadata.deletion_timestamp else [])))
        if pod.status.phase == "Running":
            gate.touch()  # the pod runs: let it finish
        elif pod.status.phase == "Succeeded" and not deleted:
            deleted = True
            core.delete_namespaced_pod(pod.metadata.name, NAMESPACE)
        elif event["type"] == "DELETED":
            watcher.stop()
    # a pod the watch sees appear passes through the states a kubelet reports before it runs
    arrival = [("ADDED", "Pending"), ("MODIFIED", "Pending", "ContainerCreating"), ("MODIFIED", "Running")]
    assert seen[:3] == arrival or seen[:1] == [("ADDED", "Running")], seen
    assert seen[-3:] == [
        ("MODIFIED", "Succeeded"),
        ("MODIFIED", "Succeeded", "deleting"),  # kubectl shows Terminating
        ("DELETED", "Succeeded", "deleting"),
    ], seen


def test_watch_of_nodes_starts_with_every_node_and_ends_at_its_timeout(batch, core):
    wait_for_job(batch, submit_command(batch, "true"))
    names = [n.metadata.name for n in core.list_node().items]
    from kubernetes import watch

    events = list(watch.Watch().stream(core.list_node, timeout_seconds=1))
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", name) for name in names]
    namespaces = list(watch.Watch().stream(core.list_namespace, timeout_seconds=1))
    assert {e["object"].metadata.name for e in namespaces} >= {NAMESPACE, "default"}


TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"


def _get(engine, path: str, accept: str = TABLE_ACCEPT) -> tuple[str, dict]:
    request = urllib.request.Request(engine.url + path, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Content-Type"], json.loads(response.read())


def _cells(table: dict) -> list[list]:
    return [row["cells"] for row in table["rows"]]


def test_the_table_form_has_kubectls_columns_for_pods_nodes_and_namespaces(engine, batch, core, tmp_path):
    gate = tmp_path / "gate"
    job_id = submit_gated_job(batch, gate)
    pod = running_pod(core, job_id)
    name, node = pod.metadata.name, pod.spec.node_name

    content_type, pods = _get(engine, f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=batch.amazonaws.com/job-id={job_id}")
    assert content_type == "application/json;as=Table;v=v1;g=meta.k8s.io"
    assert (pods["kind"], pods["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [(c["name"], c["priority"]) for c in pods["columnDefinitions"]] == [
        ("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0),
        ("IP", 1), ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1),
    ]
    [cells] = _cells(pods)
    assert cells[:4] == [name, "1/1", "Running", "0"] and cells[5:] == [pod.status.pod_ip, node, "<none>", "<none>"]
    assert pods["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": pods["rows"][0]["object"]["metadata"]
    }  # kubectl's default includeObject=Metadata
    _, full = _get(engine, f"/api/v1/namespaces/{NAMESPACE}/pods/{name}?includeObject=Object")
    assert full["rows"][0]["object"]["kind"] == "Pod" and full["rows"][0]["object"]["spec"]["nodeName"] == node
    _, bare = _get(engine, f"/api/v1/namespaces/{NAMESPACE}/pods/{name}?includeObject=None")
    assert "object" not in bare["rows"][0]

    _, nodes = _get(engine, f"/api/v1/nodes/{node}")
    assert [c["name"] for c in nodes["columnDefinitions"] if c["priority"] == 0] == ["Name", "Status", "Roles", "Age", "Version"]
    assert _cells(nodes)[0][:3] == [node, "Ready", "<none>"] and _cells(nodes)[0][4].startswith("v1.30.")
    _, namespaces = _get(engine, "/api/v1/namespaces")
    assert [c["name"] for c in namespaces["columnDefinitions"]] == ["Name", "Status", "Age"]
    assert [cells[:2] for cells in _cells(namespaces)] == [
        [n, "Active"] for n in ("amazon-cloudwatch", "default", NAMESPACE, "kube-node-lease", "kube-public", "kube-system")
    ]
    # plain JSON when the client does not ask for a Table; an unknown includeObject is a 400
    assert _get(engine, "/api/v1/namespaces", accept="application/json")[1]["kind"] == "NamespaceList"
    with pytest.raises(urllib.error.HTTPError) as raised:
        _get(engine, "/api/v1/namespaces?includeObject=Everything")
    assert raised.value.code == 400 and "includeObject" in json.loads(raised.value.read())["message"]

    gate.touch()
    wait_for_job(batch, job_id)
    _, ended = _get(engine, f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")
    assert _cells(ended)[0][1:3] == ["0/1", "Completed"]


def test_a_table_watch_carries_one_row_per_event_through_the_pods_states(engine, batch):
    _, listed = _get(engine, f"/api/v1/namespaces/{NAMESPACE}/pods")
    version = listed["metadata"]["resourceVersion"]
    request = urllib.request.Request(
        engine.url + f"/api/v1/namespaces/{NAMESPACE}/pods?watch=true&resourceVersion={version}&timeoutSeconds=20",
        headers={"Accept": TABLE_ACCEPT},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        submit_command(batch, "exit 3")  # ends with Error
        seen = []
        for line in response:
            event = json.loads(line)
            assert event["object"]["kind"] == "Table" and len(event["object"]["rows"]) == 1
            cells = event["object"]["rows"][0]["cells"]
            seen.append((event["type"], cells[2]))
            if cells[2] == "Error" and event["type"] == "MODIFIED":  # delete it, as the retention timer would
                urllib.request.urlopen(
                    urllib.request.Request(engine.url + f"/api/v1/namespaces/{NAMESPACE}/pods/{cells[0]}", method="DELETE"),
                    timeout=10,
                ).close()
            if event["type"] == "DELETED":
                break
    assert seen[:4] == [("ADDED", "Pending"), ("MODIFIED", "ContainerCreating"), ("MODIFIED", "Running"), ("MODIFIED", "Error")]
    assert seen[-2:] == [("MODIFIED", "Terminating"), ("DELETED", "Terminating")]


def test_events_of_a_pod_for_kubectl_describe(engine, batch, core):
    job_id = submit_command(batch, "true")
    wait_for_job(batch, job_id)
    pod = core.list_namespaced_pod(NAMESPACE, label_selector=f"batch.amazonaws.com/job-id={job_id}").items[0]
    selector = (
        f"involvedObject.name={pod.metadata.name},involvedObject.namespace={NAMESPACE},"
        f"involvedObject.kind=Pod,involvedObject.uid={pod.metadata.uid}"
    )
    events = core.list_namespaced_event(NAMESPACE, field_selector=selector).items
    assert [(e.reason, e.source.component) for e in events] == [
        ("Scheduled", "default-scheduler"), ("Pulled", "kubelet"), ("Created", "kubelet"), ("Started", "kubelet")
    ]
    assert events[0].message == f"Successfully assigned {NAMESPACE}/{pod.metadata.name} to {pod.spec.node_name}"
    node_events = core.list_event_for_all_namespaces(field_selector=f"involvedObject.kind=Node,involvedObject.name={pod.spec.node_name}").items
    assert {e.reason for e in node_events} == {"Starting", "RegisteredNode", "NodeReady"}
    with pytest.raises(ApiException) as raised:
        core.list_namespaced_event(NAMESPACE, field_selector="involvedObject.color=red")
    assert raised.value.status == 400
