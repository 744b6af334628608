"""Pods in their images on the docker runtime, through boto3 as a user sees them: images, ENTRYPOINT/CMD,
limits and OOM, a missing image, two containers sharing a pod, init containers and volumes, stdout and
stderr."""

from __future__ import annotations

import os
import re
import time

import docker
import pytest

from tests.engine.scheduling.kubernetes_client import core_v1
from tests.support.waits import wait_for
from tests.support.docker_images import BUSYBOX_IMAGE, ENTRYPOINT_IMAGE, IMAGE_MARKER, containers_labelled

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]

CONTAINER_ID = re.compile(r"^docker://[0-9a-f]{64}$")


def test_auto_picks_docker_when_a_daemon_answers():
    from batch_eks_provider.local.engine import choose_runtime

    assert choose_runtime("auto") == "docker"


def test_a_job_runs_in_its_local_image(denv):
    denv.image_definition(
        "in-image", BUSYBOX_IMAGE,
        command=["sh", "-c", f"cat {IMAGE_MARKER}; echo job=$AWS_BATCH_JOB_ID; pwd; test ! -e /work/main/pyproject.toml && echo isolated"],
    )
    job_id = denv.submit("q", "in-image")
    done = denv.wait(job_id)
    assert done["status"] == "SUCCEEDED", done.get("statusReason")
    attempt = done["eksAttempts"][0]
    (container,) = attempt["containers"]
    assert (container["exitCode"], container["reason"]) == (0, "Completed")
    assert CONTAINER_ID.match(container["containerID"])
    assert denv.output(attempt) == ["batch-eks test image", f"job={job_id}", "/", "isolated"]
    assert containers_labelled(f"batch-eks.local/job-id={job_id}")  # the exited container is kept until the pod goes


@pytest.mark.parametrize(
    ("override", "printed"),
    [
        ({}, "from-entrypoint from-cmd"),  # the image's ENTRYPOINT and CMD
        ({"args": ["given", "args"]}, "from-entrypoint given args"),  # args replace CMD only
        ({"command": ["echo", "own command"]}, "own command"),  # command replaces ENTRYPOINT and drops CMD
        ({"command": ["echo", "cmd"], "args": ["and", "args"]}, "cmd and args"),
        ({"args": ["$(GREETING)", "$$(GREETING)", "$(UNDEFINED)"]}, "from-entrypoint hello $(GREETING) $(UNDEFINED)"),
    ],
    ids=["image-entrypoint-and-cmd", "args-only", "command-only", "command-and-args", "var-expansion"],
)
def test_command_and_args_over_the_image_entrypoint_and_cmd(denv, override, printed):
    denv.image_definition("ep", ENTRYPOINT_IMAGE, env=[{"name": "GREETING", "value": "hello"}])
    container = {"name": "main", **override}
    job_id = denv.submit("q", "ep", eksPropertiesOverride={"podProperties": {"containers": [container]}})
    done = denv.wait(job_id)
    assert done["status"] == "SUCCEEDED", done.get("statusReason")
    assert denv.output(done["eksAttempts"][0]) == [printed]


def test_stdout_and_stderr_are_one_pod_log_and_each_record_says_which_stream_a_line_went_to(denv):
    # the daemon reads a container's two pipes apart (as containerd does on a node), so lines written
    # microseconds apart to the two come in either order; the pauses make the order the one written
    script = "echo out; sleep 0.5; echo err >&2; sleep 0.5; echo out2"
    denv.image_definition("both-streams", BUSYBOX_IMAGE, command=["sh", "-c", script])
    done = denv.wait(denv.submit("q", "both-streams"))
    assert done["status"] == "SUCCEEDED", done.get("statusReason")
    attempt = done["eksAttempts"][0]
    pod_log = core_v1(denv).read_namespaced_pod_log(attempt["podName"], attempt["podNamespace"], _preload_content=False)
    assert pod_log.data.decode() == "out\nerr\nout2\n"
    records = denv.records(attempt)
    assert [(r["log"], r["stream"]) for r in records] == [("out\n", "stdout"), ("err\n", "stderr"), ("out2\n", "stdout")]


def test_env_working_dir_and_user(denv):
    pod = {"containers": [{
        "name": "main", "image": ENTRYPOINT_IMAGE, "command": ["sh", "-c", "pwd; id -u; echo $PLACE; echo ${PATH}"],
        "env": [{"name": "PLACE", "value": "here"}],
        "securityContext": {"runAsUser": 65534},
        "resources": {"limits": {"cpu": "0.25", "memory": "32Mi"}},
    }]}
    denv.pod_definition("who", pod)
    done = denv.wait(denv.submit("q", "who"))
    assert done["status"] == "SUCCEEDED", done.get("statusReason")
    # the image's WORKDIR and PATH, the job's user and env
    assert denv.output(done["eksAttempts"][0]) == ["/work", "65534", "here", "/bin"]


def test_a_container_over_its_memory_limit_is_oom_killed_by_the_kernel(denv):
    # dd's 64 MiB buffer, in a 16 MiB cgroup without swap
    denv.image_definition("hog", BUSYBOX_IMAGE, memory="16Mi", command=["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"])
    done = denv.wait(denv.submit("q", "hog"))
    assert done["status"] == "FAILED"
    (container,) = done["eksAttempts"][0]["containers"]
    assert (container["exitCode"], container["reason"]) == (137, "OOMKilled")
    assert done["statusReason"] == "Essential container in pod exited"


def test_cpu_and_memory_limits_reach_the_container(denv):
    denv.image_definition("limits", BUSYBOX_IMAGE, memory="48Mi", cpu="0.5", command=["sleep", "30"])
    job_id = denv.submit("q", "limits")
    running = denv.wait_status(job_id, "RUNNING")
    pod_name = running["eksProperties"]["podProperties"]["podName"]
    client = docker.from_env()
    try:
        (main,) = wait_for(
            lambda: [c for c in containers_labelled(f"batch-eks.local/pod={pod_name}") if "_main_" in c["Names"]],
            timeout=20,
            what="the main container",
        )
        host_config = client.api.inspect_container(main["ID"])["HostConfig"]
        assert (host_config["NanoCpus"], host_config["Memory"], host_config["MemorySwap"]) == (
            500_000_000, 48 << 20, 48 << 20
        )
    finally:
        client.close()
    denv.batch.terminate_job(jobId=job_id, reason="test done")
    assert denv.wait(job_id)["status"] == "FAILED"


def test_a_missing_image_fails_the_attempt_at_once_naming_the_image(denv):
    denv.image_definition("absent", "batch-eks-test/not-built:1", command=["true"])
    started = time.monotonic()
    done = denv.wait(denv.submit("q", "absent"), timeout=60)
    assert done["status"] == "FAILED"
    assert time.monotonic() - started < 30
    reason = done["statusReason"]
    assert reason.startswith("CannotPullContainerError: failed to pull image 'batch-eks-test/not-built:1'"), reason
    (container,) = done["eksAttempts"][0]["containers"]
    assert container["reason"] == reason and "exitCode" not in container


def test_image_pull_policy_never_uses_only_what_the_node_has(denv):
    denv.image_definition("never", "batch-eks-test/not-built:2", command=["true"], imagePullPolicy="Never")
    done = denv.wait(denv.submit("q", "never"), timeout=60)
    assert done["status"] == "FAILED"
    assert "'batch-eks-test/not-built:2' is not present on the node and imagePullPolicy is Never" in done["statusReason"]
    denv.image_definition("never-present", BUSYBOX_IMAGE, command=["true"], imagePullPolicy="Never")
    assert denv.wait(denv.submit("q", "never-present"))["status"] == "SUCCEEDED"


def test_the_containers_of_a_pod_share_its_network_and_ipc_namespaces(denv):
    limits = {"limits": {"cpu": "0.25", "memory": "32Mi"}}
    show = "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc; hostname"
    pod = {
        "hostNetwork": False,
        "containers": [
            # the reader waits for what the writer leaves in the pod's shared memory (its IPC namespace)
            {"name": "reader", "image": BUSYBOX_IMAGE, "resources": limits,
             "command": ["sh", "-c", f"until [ -e /dev/shm/note ]; do sleep 0.05; done; cat /dev/shm/note; {show}"]},
            {"name": "writer", "image": BUSYBOX_IMAGE, "resources": limits,
             "command": ["sh", "-c", f"echo shared > /dev/shm/note; {show}"]},
        ],
    }
    denv.pod_definition("pair", pod)
    done = denv.wait(denv.submit("q", "pair"))
    assert done["status"] == "SUCCEEDED", done.get("statusReason")
    attempt = done["eksAttempts"][0]
    assert [(c["name"], c["exitCode"]) for c in attempt["containers"]] == [("reader", 0), ("writer", 0)]
    reader, writer = denv.output(attempt, "reader"), denv.output(attempt, "writer")
    assert reader[0] == "shared"
    assert reader[1:] == writer  # one network and one IPC namespace, one hostname: the pod's name
    net, ipc, hostname = writer
    assert net.startswith("net:[") and ipc.startswith("ipc:[") and hostname == attempt["podName"]
    assert net != os.readlink("/proc/self/ns/net")  # not the host's network


def test_host_network_pods_see_the_host_network(denv):
    denv.image_definition("host", BUSYBOX_IMAGE, command=["sh", "-c", "ip -o link | grep -v ' lo:' | wc -l"])
    done = denv.wait(denv.submit("q", "host"))
    assert done["status"] == "SUCCEEDED", done.get("statusReason")
    assert "hostNetwork" not in done["eksProperties"]["podProperties"]  # not given: the pod's spec has the default
    # docker runs with --bridge=none here, yet the host has at least one interface besides loopback
    assert int(denv.output(done["eksAttempts"][0])[0]) >= 1


def test_init_containers_run_in_order_before_the_containers_and_share_an_empty_dir(denv, tmp_path):
    limits = {"limits": {"cpu": "0.25", "memory": "32Mi"}}
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    (host_dir / "input.txt").write_text("from the host\n")
    mounts = [{"name": "scratch", "mountPath": "/scratch"}, {"name": "host", "mountPath": "/host", "readOnly": True}]
    pod = {
        "volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "host", "hostPath": {"path": str(host_dir)}}],
        "initContainers": [
            {"name": "first", "image": BUSYBOX_IMAGE, "resources": limits, "volumeMounts": mounts,
             "command": ["sh", "-c", "ls /scratch | wc -l; echo one >> /scratch/order"]},
            {"name": "second", "image": BUSYBOX_IMAGE, "resources": limits, "volumeMounts": mounts,
             "command": ["sh", "-c", "echo two >> /scratch/order; cat /host/input.txt >> /scratch/order"]},
        ],
        "containers": [
            {"name": "main", "image": BUSYBOX_IMAGE, "resources": limits, "volumeMounts": mounts,
             "securityContext": {"runAsUser": 65534},
             "command": ["sh", "-c", "cat /scratch/order; echo three > /scratch/mine && echo writable; touch /host/x || echo read-only"]},
        ],
    }
    denv.pod_definition("init", pod)
    done = denv.wait(denv.submit("q", "init"))
    assert done["status"] == "SUCCEEDED", done.get("statusReason")
    attempt = done["eksAttempts"][0]
    assert [(c["name"], c["exitCode"]) for c in attempt["initContainers"]] == [("first", 0), ("second", 0)]
    assert denv.output(attempt, "first") == ["0"]  # the emptyDir starts empty
    lines = denv.output(attempt, "main")
    # stdout and stderr are two pipes: the daemon's log keeps each in order, not one against the other
    stderr = "touch: /host/x: Read-only file system"
    assert [line for line in lines if line != stderr] == ["one", "two", "from the host", "writable", "read-only"]
    assert stderr in lines


def test_a_failing_init_container_stops_the_pod_before_its_containers(denv):
    limits = {"limits": {"cpu": "0.25", "memory": "32Mi"}}
    pod = {
        "initContainers": [{"name": "setup", "image": BUSYBOX_IMAGE, "resources": limits, "command": ["sh", "-c", "exit 3"]}],
        "containers": [{"name": "main", "image": BUSYBOX_IMAGE, "resources": limits, "command": ["echo", "never"]}],
    }
    denv.pod_definition("init-fails", pod)
    done = denv.wait(denv.submit("q", "init-fails"))
    assert done["status"] == "FAILED"
    attempt = done["eksAttempts"][0]
    assert [(c["name"], c.get("exitCode"), c["reason"]) for c in attempt["initContainers"]] == [("setup", 3, "Error")]
    assert [(c["name"], c["reason"]) for c in attempt["containers"]] == [("main", "PodInitializing")]
    assert done["statusReason"] == "Essential container in pod exited"


def test_unsupported_pod_features_fail_the_attempt_saying_so(denv):
    pod = {
        "volumes": [{"name": "creds", "secret": {"secretName": "db"}}],
        "containers": [{"name": "main", "image": BUSYBOX_IMAGE, "command": ["true"],
                        "volumeMounts": [{"name": "creds", "mountPath": "/creds"}],
                        "resources": {"limits": {"cpu": "0.25", "memory": "32Mi"}}}],
    }
    denv.pod_definition("secret", pod)
    done = denv.wait(denv.submit("q", "secret"))
    assert done["status"] == "FAILED"
    assert done["statusReason"] == (
        "ContainerCannotRun: Unsupported volume 'creds': the local engine's docker runtime mounts emptyDir and "
        "hostPath volumes; secret volumes are not supported."
    )


def test_a_command_the_image_lacks_cannot_run(denv):
    denv.image_definition("no-such", BUSYBOX_IMAGE, command=["/opt/app/train"])
    done = denv.wait(denv.submit("q", "no-such"))
    assert done["status"] == "FAILED"
    (container,) = done["eksAttempts"][0]["containers"]
    assert (container["exitCode"], container["reason"]) == (128, "ContainerCannotRun")
    assert any("/opt/app/train" in line for line in denv.output(done["eksAttempts"][0]))


def test_terminate_stops_the_containers(denv):
    denv.image_definition("long", BUSYBOX_IMAGE, command=["sh", "-c", "trap 'echo got TERM; exit 143' TERM; echo ready; while true; do sleep 0.1; done"])
    job_id = denv.submit("q", "long")
    denv.wait_for_output(job_id, "ready")
    pod_name = denv.job(job_id)["eksProperties"]["podProperties"]["podName"]
    running_id = denv.engine.scheduler.runtime.container_id(pod_name, "main")  # for the log stream's name
    denv.batch.terminate_job(jobId=job_id, reason="enough")
    done = denv.wait(job_id)
    assert (done["status"], done["statusReason"]) == ("FAILED", "enough")
    (container,) = done["eksAttempts"][0]["containers"]
    assert container["exitCode"] == 143
    assert container["containerID"] == running_id
    assert "got TERM" in denv.output(done["eksAttempts"][0])


def test_memory_empty_dir_and_a_shared_process_namespace(denv):
    limits = {"limits": {"cpu": "0.25", "memory": "32Mi"}}
    mounts = [{"name": "fast", "mountPath": "/fast"}]
    pod = {
        "shareProcessNamespace": True,
        "volumes": [{"name": "fast", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}}],
        "initContainers": [{"name": "fill", "image": BUSYBOX_IMAGE, "resources": limits, "volumeMounts": mounts,
                            "command": ["sh", "-c", "echo kept > /fast/note"]}],
        "containers": [{"name": "main", "image": BUSYBOX_IMAGE, "resources": limits, "volumeMounts": mounts,
                        "command": ["sh", "-c", "cat /fast/note; grep -c ' /fast tmpfs' /proc/mounts; tr -d '\\000' < /proc/1/cmdline; echo"]}],
    }
    denv.pod_definition("tmpfs", pod)
    done = denv.wait(denv.submit("q", "tmpfs"))
    assert done["status"] == "SUCCEEDED", done.get("statusReason")
    # the init container's file outlived it (the sandbox holds the tmpfs); PID 1 is the pod's sandbox
    assert denv.output(done["eksAttempts"][0]) == ["kept", "1", "/pause"]


def test_run_as_non_root_is_checked_against_the_image_user(denv):
    denv.image_definition("nonroot", BUSYBOX_IMAGE, command=["id", "-u"], securityContext={"runAsNonRoot": True})
    done = denv.wait(denv.submit("q", "nonroot"))
    assert done["status"] == "FAILED"
    (container,) = done["eksAttempts"][0]["containers"]
    assert container["reason"] == "CreateContainerConfigError"
    assert denv.output(done["eksAttempts"][0]) == ["Error: container 'main' has runAsNonRoot and image will run as root"]
    denv.image_definition("nonroot-uid", BUSYBOX_IMAGE, command=["id", "-u"],
                          securityContext={"runAsNonRoot": True, "runAsUser": 1000})
    done = denv.wait(denv.submit("q", "nonroot-uid"))
    assert done["status"] == "SUCCEEDED" and denv.output(done["eksAttempts"][0]) == ["1000"]


def test_terminating_a_job_while_its_image_is_pulled_ends_it_at_once(denv, slow_registry):
    denv.image_definition("slow-pull", BUSYBOX_IMAGE, command=["true"])
    job_id = denv.submit("q", "slow-pull")
    assert slow_registry.pulling.wait(20)
    denv.batch.terminate_job(jobId=job_id, reason="no time to wait")
    done = denv.wait(job_id, timeout=10)  # the pull is still held
    assert (done["status"], done["statusReason"]) == ("FAILED", "no time to wait")
    assert [c["reason"] for c in done["eksAttempts"][0]["containers"]] == ["Killed"]
