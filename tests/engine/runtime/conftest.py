"""Fixtures for the docker runtime: a daemon (or a skip that says why), local test images, engines whose pods
run in Docker, and a registry that answers only when the test says so. The images' tags and ``docker ps -a`` by
the engine's labels are in :mod:`tests.support.docker_images`.

Tests marked ``docker`` skip, with the reason, when no Docker daemon answers; the end of the run repeats
that reason (``make test`` prints it), so a green run without Docker is never mistaken for a docker run.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest

from batch_eks_provider.local import LocalEngine
from batch_eks_provider.local.store.state import EngineConfig
from tests.engine.conftest import CLUSTER_ARN, NAMESPACE, Env
from tests.support.waits import wait_for
from tests.support.docker_images import BUSYBOX_IMAGE, ENTRYPOINT_IMAGE, build_image, docker_unavailable_reason

__all__ = ["DockerEnv", "NAMESPACE", "SlowRegistry"]

_reason: dict[str, str | None] = {}


def _docker_reason() -> str | None:
    if "value" not in _reason:
        _reason["value"] = docker_unavailable_reason()
    return _reason["value"]


def pytest_collection_modifyitems(config, items) -> None:
    """Skip the docker tests, saying why, when no daemon answers; with ``BATCH_EKS_REQUIRE_DOCKER=1``
    (``.ci/run``) they run and fail instead (the ``images`` fixture says why)."""
    if os.environ.get("BATCH_EKS_REQUIRE_DOCKER") == "1":
        return
    for item in items:
        if item.get_closest_marker("docker") is not None and f"engine{os.sep}runtime" in str(item.fspath):
            reason = _docker_reason()
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=f"docker runtime tests need a Docker daemon: {reason}"))


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "docker: needs a Docker daemon (skipped, saying why, when none answers)")


def pytest_terminal_summary(terminalreporter) -> None:
    reason = _reason.get("value")
    if reason is not None:
        terminalreporter.write_sep("=", "docker runtime tests skipped", yellow=True)
        terminalreporter.write_line(f"no Docker daemon: {reason}")
        terminalreporter.write_line("(.ci/run installs Debian's docker.io and starts dockerd; tests/support/start-dockerd.sh)")


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """The local test images, built once (and kept by tag across runs)."""
    reason = _docker_reason()
    if reason is not None:
        pytest.fail(f"BATCH_EKS_REQUIRE_DOCKER=1, but no Docker daemon answers: {reason}")
    return {
        "busybox": build_image(BUSYBOX_IMAGE, ['CMD ["sh"]']),
        "entrypoint": build_image(
            ENTRYPOINT_IMAGE, ['ENTRYPOINT ["echo", "from-entrypoint"]', 'CMD ["from-cmd"]', "WORKDIR /work"]
        ),
    }


class DockerEnv(Env):
    """An engine on the docker runtime (see :class:`tests.engine.conftest.Env`)."""

    def pod_definition(self, name: str, pod: dict[str, Any]) -> str:
        self.batch.register_job_definition(jobDefinitionName=name, type="container", eksProperties={"podProperties": pod})
        return name

    def image_definition(self, name: str, image: str, *, memory: str = "64Mi", cpu: str = "0.25", **container: Any) -> str:
        spec = {"name": "main", "image": image, "resources": {"limits": {"cpu": cpu, "memory": memory}}, **container}
        return self.pod_definition(name, {"containers": [spec]})

    def output(self, attempt: dict[str, Any], container: str = "main") -> list[str]:
        """What a container printed, from CloudWatch Logs through boto3: every stream of the container (the
        stream name may end in the container id), each event's text (the ``log`` of a Fluent Bit record)."""
        return [_text(message) for message in self.messages(attempt, container)]

    def records(self, attempt: dict[str, Any], container: str = "main") -> list[dict[str, Any]]:
        """The Fluent Bit records of a container's events, from CloudWatch Logs through boto3."""
        return [json.loads(message) for message in self.messages(attempt, container)]

    def messages(self, attempt: dict[str, Any], container: str = "main") -> list[str]:
        """The messages of every CloudWatch Logs event of a container, through boto3."""
        cluster = attempt["eksClusterArn"].rsplit("/", 1)[-1]
        group = f"/aws/containerinsights/{cluster}/application"
        prefix = (
            f"{attempt['nodeName']}-application.var.log.containers."
            f"{attempt['podName']}_{attempt['podNamespace']}_{container}"
        )
        streams = self.logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=prefix)["logStreams"]
        messages: list[str] = []
        for stream in streams:
            events = self.logs.get_log_events(
                logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True
            )["events"]
            messages += [e["message"] for e in events]
        return messages

    def wait_for_output(self, job_id: str, line: str, container: str = "main", timeout: float = 20.0) -> None:
        """Wait until the job's running attempt has printed ``line``."""

        def printed() -> bool:
            pod = self.job(job_id)["eksProperties"]["podProperties"]
            if "podName" not in pod:
                return False
            attempt = {"podName": pod["podName"], "nodeName": pod["nodeName"], "podNamespace": NAMESPACE,
                       "eksClusterArn": CLUSTER_ARN}
            try:
                return line in self.output(attempt, container)
            except self.logs.exceptions.ResourceNotFoundException:
                return False

        wait_for(printed, timeout=timeout, what=f"job {job_id} to print {line!r}")


def _text(message: str) -> str:
    try:
        record = json.loads(message)
    except ValueError:
        return message
    return record["log"].rstrip("\n") if isinstance(record, dict) and "log" in record else message


@pytest.fixture
def make_docker_env(tmp_path, monkeypatch, images):
    """Start engines on the docker runtime (``LocalEngine(runtime="docker")``, whatever ``$BATCH_EKS_RUNTIME``
    says): ``make_docker_env(state_dir=..., **config)``; a CE ``ce`` and a queue ``q`` are made on each."""
    monkeypatch.delenv("BATCH_EKS_RUNTIME", raising=False)
    started: list[LocalEngine] = []

    def make(*, state_dir=None, **config: Any) -> DockerEnv:
        defaults = {"node_startup_seconds": 0.0, "node_idle_seconds": 1.0, "termination_grace_seconds": 1.0, "random_seed": 7}
        local = LocalEngine(
            state_dir=state_dir if state_dir is not None else tmp_path / f"engine{len(started)}",
            config=EngineConfig(**{**defaults, **config}),
            runtime="docker",
        )
        local.start(timeout=30)
        started.append(local)
        assert local.engine.runtime_name == "docker"
        env = DockerEnv(local)
        env.ce("ce")
        env.queue("q", ["ce"])
        return env

    yield make
    for local in reversed(started):
        local.stop()


@pytest.fixture
def denv(make_docker_env) -> DockerEnv:
    """An engine on the docker runtime with CE ``ce`` and queue ``q``."""
    return make_docker_env()


@dataclass
class SlowRegistry:
    """``pulling`` is set once the runtime asks for an image; the pull goes on once the test sets ``release``."""

    pulling: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def slow_registry(monkeypatch) -> Iterator[SlowRegistry]:
    """A registry that answers only when the test says so (released at the end in any case, so that no pull is
    left waiting when the engine stops)."""
    from batch_eks_provider.local.runtime import docker_runtime

    registry = SlowRegistry()
    real = docker_runtime.ensure_image

    def slow_pull(client, image, policy):
        registry.pulling.set()
        registry.release.wait(30)
        return real(client, image, policy)

    monkeypatch.setattr(docker_runtime, "ensure_image", slow_pull)
    yield registry
    registry.release.set()

