"""RegisterJobDefinition refuses the pod volumes botocore's docs call invalid -- a volume or secret name that is
no DNS subdomain name, a volume mount naming no volume of the pod -- with a ClientException naming the field,
the value and the rule; it accepts what AWS accepts (secret and persistentVolumeClaim volumes), which a runtime
that cannot mount them (the docker runtime) fails at the attempt instead."""

from __future__ import annotations

import pytest

from batch_eks_provider.local import LocalEngine


@pytest.fixture(scope="module")
def engine():
    """One engine for the whole module: a refused request changes nothing."""
    with LocalEngine(blueprint="data-on-eks") as running:
        yield running


LIMITS = {"limits": {"cpu": "0.25", "memory": "64Mi"}}


def _pod(volumes, mounts=None, section="containers"):
    """A pod with ``volumes``; its container ``main`` (or its init container ``setup``) mounts ``mounts``."""
    def container(name, with_mounts):
        return {"name": name, "image": "busybox", "command": ["true"], "resources": LIMITS,
                **({"volumeMounts": mounts} if with_mounts and mounts is not None else {})}

    pod = {"containers": [container("main", section == "containers")], "volumes": volumes}
    if section == "initContainers":
        pod["initContainers"] = [container("setup", True)]
    return pod


def _register(batch, pod):
    return batch.register_job_definition(jobDefinitionName="vols", type="container", eksProperties={"podProperties": pod})


WHERE = r"eksProperties\.podProperties"
REFUSED = [
    (_pod([{"name": "Scratch", "emptyDir": {}}]),
     rf"Invalid {WHERE}\.volumes\[0\]\.name 'Scratch': must be a DNS subdomain name: at most 253 lowercase letters"),
    (_pod([{"name": "scratch_dir", "emptyDir": {}}]), rf"Invalid {WHERE}\.volumes\[0\]\.name 'scratch_dir'"),
    (_pod([{"name": "ok", "emptyDir": {}}, {"name": "-bad", "hostPath": {"path": "/tmp"}}]),
     rf"Invalid {WHERE}\.volumes\[1\]\.name '-bad'"),
    (_pod([{"name": "creds", "secret": {"secretName": "DB_Password"}}]),
     rf"Invalid {WHERE}\.volumes\[0\]\.secret\.secretName 'DB_Password': must be a DNS subdomain name"),
    (_pod([{"name": "scratch", "emptyDir": {}}], [{"name": "data", "mountPath": "/data"}]),
     (rf"Invalid {WHERE}\.containers\[0\]\.volumeMounts\[0\]\.name 'data': it must match the name of one of the "
      rf"volumes in the pod \({WHERE}\.volumes: 'scratch'\)\.")),
    (_pod([], [{"name": "data", "mountPath": "/data"}], section="initContainers"),
     rf"Invalid {WHERE}\.initContainers\[0\]\.volumeMounts\[0\]\.name 'data': .*\({WHERE}\.volumes: none\)\."),
]


@pytest.mark.parametrize(("pod", "message"), REFUSED, ids=[
    "uppercase-volume-name", "underscore-volume-name", "second-volume", "secret-name", "mount-of-no-volume", "init-mount"])
def test_register_refuses_what_aws_documents_as_invalid(batch, pod, message):
    with pytest.raises(batch.exceptions.ClientException, match=message):
        _register(batch, pod)


def test_register_accepts_what_aws_accepts(batch):
    volumes = [
        {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "host", "hostPath": {"path": "/tmp"}},
        {"name": "creds", "secret": {"secretName": "db-password", "optional": True}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "training-data", "readOnly": True}},
        {"name": "cache.v2", "emptyDir": {}},
    ]
    mounts = [{"name": v["name"], "mountPath": f"/mnt/{v['name']}"} for v in volumes]
    registered = _register(batch, _pod(volumes, mounts))
    (definition,) = batch.describe_job_definitions(jobDefinitions=[registered["jobDefinitionArn"]])["jobDefinitions"]
    pod = definition["eksProperties"]["podProperties"]
    assert pod["volumes"] == volumes and pod["containers"][0]["volumeMounts"] == mounts
