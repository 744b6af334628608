"""Run a pod's containers in a Docker daemon: the docker runtime (``batch-eks local serve --runtime docker``).

Same interface as :class:`~.process.ProcessRuntime` (``start``, ``stop``, ``kill``, ``forget``, ``shutdown``;
output lines to ``on_output``, the pod's end to ``on_exit``), so the scheduler drives either. Per pod:

1. every image is had as its ``imagePullPolicy`` says (:func:`~.docker_daemon.ensure_image`); a pull that
   fails ends the attempt at once, its reason ``CannotPullContainerError: failed to pull image '...': ...``;
2. the sandbox starts (:mod:`.docker_pod`), then the init containers one after another, then the containers
   side by side, each joined to the sandbox's namespaces;
3. each container's output is followed from the daemon's log (json-file) and handed on line by line, as the
   process runtime does: stdout's and stderr's apart (each frame of the log says its stream, handed on with
   the lines), in the order the daemon logged them; its exit code
   and ``OOMKilled`` come from ``docker inspect`` (the kernel's cgroup OOM killer: exit 137, reason
   ``OOMKilled``);
4. at the pod's end the sandbox is killed; the containers stay (exited) until the pod is deleted
   (:meth:`forget`, after the pod retention time), as kubelet keeps them, then they and the pod's volumes
   are removed.

Every container and volume is labelled with the engine's state dir, the pod and the job
(:mod:`.docker_daemon`): an engine starting on a state dir removes what an engine killed there left.

Blocking daemon calls run on worker threads: one small pool for control calls (create, start, kill,
remove), one for pulls, and one thread per running container to follow its log.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import struct
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

from .docker_daemon import (
    LABEL_ENGINE_HOST,
    LABEL_ENGINE_PID,
    LABEL_POD,
    LABEL_RUNTIME,
    LABEL_STATE_DIR,
    ImagePullError,
    connect,
    ensure_image,
    ensure_pause_image,
    pull_policy,
    remove_labelled,
    sweep_leftovers,
)
from .docker_pod import (
    container_config,
    non_root_violation,
    plan_volumes,
    pod_labels,
    sandbox_config,
    unsupported_features,
    volume_create_args,
)
from .process import (
    NO_COMMAND_EXIT_CODE,
    OOM_EXIT_CODE,
    ContainerResult,
    ContainerSpec,
    ExitCallback,
    OutputCallback,
    PodRun,
    StartedCallback,
    note_started,
)

__all__ = ["DockerRuntime"]

_MAX_PARTIAL_BYTES = 4 << 20  # a line without a newline is handed on in pieces of this size
_FRAME_STREAMS = {1: "stdout", 2: "stderr"}  # a frame's stream byte in the multiplexed log stream
_STOP_POLL_SECONDS = 0.1  # how often a pull in progress looks whether the pod was stopped
_WAITING_REASON = "ContainerCreating"  # what a container whose pod never got to start it was doing


class DockerRuntime:
    """Starts, follows and stops pods' containers in a Docker daemon, on the engine's event loop."""

    def __init__(
        self,
        work_root: Path,
        on_output: OutputCallback,
        on_exit: ExitCallback,
        *,
        pod_lookup: Callable[[str], Any],
        state_dir: Path | None = None,
        grace_seconds: float = 2.0,
        client: Any = None,
        pull_timeout: float = 300.0,
        max_containers: int = 256,
    ) -> None:
        self.work_root = work_root
        self.on_output = on_output
        self.on_exit = on_exit
        self.grace_seconds = grace_seconds
        self.pod_lookup = pod_lookup
        self.runs: dict[str, PodRun] = {}
        # told when a pod's containers have all started (images pulled, init containers done)
        self.on_started: StartedCallback | None = None
        self.client = client or connect()
        # no read timeout for the log streams (a container may be silent for hours); pulls bounded
        self._stream_client = connect(timeout=None)  # type: ignore[arg-type]
        self._pull_client = connect(timeout=pull_timeout)
        host = os.environ.get("DOCKER_HOST", "")
        self.daemon_is_local = not host or host.startswith("unix://")
        self.state_label = str(Path(state_dir).resolve()) if state_dir else f"tmp:{work_root}"
        self.runtime_id = uuid.uuid4().hex
        self.runtime_labels = {
            LABEL_STATE_DIR: self.state_label,
            LABEL_RUNTIME: self.runtime_id,
            LABEL_ENGINE_HOST: socket.gethostname(),
            LABEL_ENGINE_PID: str(os.getpid()),
        }
        self._control = ThreadPoolExecutor(max_workers=4, thread_name_prefix="docker-control")
        self._pulls = ThreadPoolExecutor(max_workers=2, thread_name_prefix="docker-pull")
        self._streams = ThreadPoolExecutor(max_workers=max_containers, thread_name_prefix="docker-logs")
        self.removed_at_start = sweep_leftovers(self.client, str(Path(state_dir).resolve()) if state_dir else None)
        self.pause_image = ensure_pause_image(self.client)

    # -- the scheduler's interface ----------------------------------------------------------------------------
    def start(self, run: PodRun) -> None:
        self.runs[run.pod_name] = run
        run.task = asyncio.get_running_loop().create_task(self._run_pod(run), name=f"pod {run.pod_name}")

    def stop(self, pod_name: str, reason: str, *, force: bool = False) -> None:
        """SIGTERM the pod's containers (SIGKILL when ``force``); the scheduler sends :meth:`kill` after the
        grace period on its own clock."""
        run = self.runs.get(pod_name)
        if run is None:
            return
        run.stop_reason = run.stop_reason or reason
        if force:
            run.stop_signal = signal.SIGKILL
        for container_id in list(run.processes.values()):
            self._signal(container_id, signal.SIGKILL if force else signal.SIGTERM)

    def kill(self, pod_name: str) -> None:
        run = self.runs.get(pod_name)
        if run is not None:
            run.stop_signal = signal.SIGKILL
            for container_id in list(run.processes.values()):
                self._signal(container_id, signal.SIGKILL)

    def container_id(self, pod_name: str, container: str) -> str | None:
        """``docker://<64 hex>`` of a running pod's container, or None; known before its first output line."""
        run = self.runs.get(pod_name)
        return run.container_ids.get(container) if run is not None else None

    def forget(self, pod_name: str) -> None:
        """The pod was deleted: remove its containers, its sandbox and its volumes."""
        if pod_name in self.runs:
            return
        try:
            self._control.submit(remove_labelled, self.client, [f"{LABEL_RUNTIME}={self.runtime_id}", f"{LABEL_POD}={pod_name}"])
        except RuntimeError:  # shutting down: shutdown removes everything
            pass
        shutil.rmtree(self.work_root / pod_name, ignore_errors=True)

    async def shutdown(self) -> None:
        for name in list(self.runs):
            self.stop(name, "engine shutting down", force=True)
        tasks = [r.task for r in self.runs.values() if r.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.run_in_executor(self._control, remove_labelled, self.client, [f"{LABEL_RUNTIME}={self.runtime_id}"]),
                timeout=30,
            )
        except Exception:  # noqa: BLE001 - the next engine on this state dir removes what is left
            pass
        for executor in (self._control, self._pulls, self._streams):
            executor.shutdown(wait=False, cancel_futures=True)
        for client in (self.client, self._stream_client, self._pull_client):
            client.close()

    # -- one pod ------------------------------------------------------------------------------------------------
    async def _call(self, executor: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, lambda: fn(*args, **kwargs))

    def _signal(self, container_id: str, sig: int) -> None:
        def send() -> None:
            try:
                self.client.api.kill(container_id, signal=int(sig))
            except Exception:  # noqa: BLE001 - not running any more (409), or removed
                pass

        try:
            self._control.submit(send)
        except RuntimeError:
            pass

    def _say(self, run: PodRun, container: str, text: str) -> None:
        self.on_output(run.pod_name, container, text, "stdout")

    async def _run_pod(self, run: PodRun) -> None:
        """Run the pod to its end; ``on_exit`` is called whatever goes wrong, so no job stays RUNNING for ever."""
        init_results: list[ContainerResult] = []
        results: list[ContainerResult] = []
        reason: str | None = None
        sandbox_id: str | None = None
        specs = run.init_containers + run.containers
        try:
            pod = self.pod_lookup(run.pod_name)
            if pod is None:
                raise RuntimeError(f"pod {run.pod_name} is not in the engine's state")
            problem = unsupported_features(pod.spec, specs)
            if problem:
                reason = f"ContainerCannotRun: {problem}"
                self._say(run, specs[0].name if specs else "pod", problem)
                results = [ContainerResult(s.name, "", NO_COMMAND_EXIT_CODE, "ContainerCannotRun") for s in run.containers]
            else:
                init_results, results, reason, sandbox_id = await self._run_containers(run, pod)
        except Exception as e:  # noqa: BLE001 - an engine or daemon failure must still end the attempt
            done = {r.name for r in init_results + results}
            results = results + [
                ContainerResult(s.name, "", NO_COMMAND_EXIT_CODE, "ContainerCannotRun") for s in run.containers if s.name not in done
            ]
            self._say(run, run.containers[0].name if run.containers else "pod", f"pod failed to run: {e!r}")
            reason = reason or f"ContainerCannotRun: the docker runtime could not run the pod: {e}"[:255]
        finally:
            self.runs.pop(run.pod_name, None)
            for container_id in list(run.processes.values()):
                self._signal(container_id, signal.SIGKILL)
            if sandbox_id is not None:
                self._signal(sandbox_id, signal.SIGKILL)
        outcome = self.on_exit(run.pod_name, init_results, results, run.stop_reason or reason)
        if asyncio.iscoroutine(outcome):
            await outcome

    async def _run_containers(
        self, run: PodRun, pod: Any
    ) -> tuple[list[ContainerResult], list[ContainerResult], str | None, str | None]:
        """Images, sandbox, init containers, containers. Returns their results, the attempt's reason when the
        pod could not run (None otherwise) and the sandbox's id."""
        labels = pod_labels(pod, self.state_label, self.runtime_labels)
        image_configs: dict[str, dict[str, Any]] = {}
        for spec in run.init_containers + run.containers:
            if run.stop_reason:
                return [], [ContainerResult(s.name, "", None, "Killed") for s in run.containers], None, None
            policy = pull_policy(spec.image or "", spec.image_pull_policy)
            pulling = asyncio.ensure_future(self._call(self._pulls, ensure_image, self._pull_client, spec.image, policy))
            while not pulling.done() and not run.stop_reason:  # a stop does not wait for a slow registry
                await asyncio.wait({pulling}, timeout=_STOP_POLL_SECONDS)
            if not pulling.done():
                pulling.add_done_callback(lambda f: f.exception())  # the pull ends on its thread, unheard
                return [], [ContainerResult(s.name, "", None, "Killed") for s in run.containers], None, None
            try:
                image_configs[spec.name] = pulling.result()
            except ImagePullError as e:
                message = str(e)
                self._say(run, spec.name, message)
                failed = lambda s: ContainerResult(s.name, "", None, message if s.name == spec.name else _WAITING_REASON)  # noqa: E731
                init = [failed(s) for s in run.init_containers if s.name in image_configs or s.name == spec.name]
                return init, [failed(s) for s in run.containers], message, None
        local_dir = None
        if self.daemon_is_local:
            local_dir = str((self.work_root / pod.name / "volumes").resolve())
        plans = plan_volumes(pod, local_dir)
        await self._call(self._control, self._make_volumes, plans, labels)
        sandbox_id = await self._call(self._control, self._create_and_start, sandbox_config(pod, self.pause_image, labels, plans))
        init_results: list[ContainerResult] = []
        for spec in run.init_containers:
            result = await self._run_container(run, pod, spec, sandbox_id, labels, plans, image_configs[spec.name])
            init_results.append(result)
            if result.exit_code != 0 or run.stop_reason:
                return init_results, [ContainerResult(s.name, "", None, "PodInitializing") for s in run.containers], None, sandbox_id
        results = list(
            await asyncio.gather(
                *(self._run_container(run, pod, s, sandbox_id, labels, plans, image_configs[s.name]) for s in run.containers)
            )
        )
        return init_results, results, None, sandbox_id

    def _make_volumes(self, plans: list, labels: dict[str, str]) -> None:
        for plan in plans:
            if plan.kind == "volume":
                self.client.api.create_volume(**volume_create_args(plan, labels))
            elif plan.source.startswith(str(self.work_root.resolve())):  # an emptyDir directory of ours
                os.makedirs(plan.source, exist_ok=True)
                os.chmod(plan.source, 0o777)  # kubelet makes emptyDir world-writable: any runAsUser may write

    def _create_and_start(self, config: dict[str, Any]) -> str:
        config = dict(config)
        name = config.pop("name")
        container_id = self.client.api.create_container(name=name, **config)["Id"]
        self.client.api.start(container_id)
        return container_id

    async def _run_container(
        self,
        run: PodRun,
        pod: Any,
        spec: ContainerSpec,
        sandbox_id: str,
        labels: dict[str, str],
        plans: list,
        image_config: dict[str, Any],
    ) -> ContainerResult:
        if run.stop_reason:
            return ContainerResult(spec.name, "", None, "Killed")
        violation = non_root_violation(spec, image_config)
        if violation:
            self._say(run, spec.name, f"Error: {violation}")
            return ContainerResult(spec.name, "", NO_COMMAND_EXIT_CODE, "CreateContainerConfigError")
        config = container_config(pod, spec, sandbox_id, labels, plans)
        try:
            container_id = await self._call(self._control, self._create, config)
        except Exception as e:  # noqa: BLE001 - docker.errors.APIError: a bad config
            self._say(run, spec.name, f"failed to create container: {getattr(e, 'explanation', None) or e}")
            return ContainerResult(spec.name, "", NO_COMMAND_EXIT_CODE, "ContainerCannotRun")
        run.processes[spec.name] = container_id
        full_id = run.container_ids[spec.name] = f"docker://{container_id}"
        try:
            await self._call(self._control, self.client.api.start, container_id)
        except Exception as e:  # noqa: BLE001 - e.g. "executable file not found in $PATH"
            run.processes.pop(spec.name, None)
            self._say(run, spec.name, f"failed to start container: {getattr(e, 'explanation', None) or e}")
            return ContainerResult(spec.name, full_id, NO_COMMAND_EXIT_CODE, "ContainerCannotRun")
        note_started(run, spec, self.on_started)
        if run.stop_reason:  # stopped while the container was being started
            self._signal(container_id, run.stop_signal)
        loop = asyncio.get_running_loop()

        def emit(text: str, source: str) -> None:  # on the stream thread
            loop.call_soon_threadsafe(self.on_output, run.pod_name, spec.name, text, source)

        try:
            exit_code, oom_killed = await self._call(self._streams, self._follow, container_id, emit)
        finally:
            run.processes.pop(spec.name, None)
        if oom_killed:
            return ContainerResult(spec.name, full_id, OOM_EXIT_CODE, "OOMKilled")
        return ContainerResult(spec.name, full_id, exit_code, "Completed" if exit_code == 0 else "Error")

    def _create(self, config: dict[str, Any]) -> str:
        config = dict(config)
        name = config.pop("name")
        return self.client.api.create_container(name=name, **config)["Id"]

    def _follow(self, container_id: str, emit: Callable[[str, str], None]) -> tuple[int, bool]:
        """Hand on the container's output until it exits, ``emit(lines, stream)``: the complete lines of
        each frame of its log (joined by ``\\n``), stdout's and stderr's each with its own partial line;
        then its exit code and whether the kernel's OOM killer ended it. Runs on a stream thread."""
        partial = {"stdout": b"", "stderr": b""}
        try:
            for source, chunk in _log_frames(self._stream_client.api, container_id):
                data = partial[source] + chunk if partial[source] else chunk
                end = data.rfind(b"\n")
                if end < 0:
                    partial[source] = data
                    if len(data) >= _MAX_PARTIAL_BYTES:
                        emit(_decode(data), source)
                        partial[source] = b""
                    continue
                partial[source] = data[end + 1 :]
                emit(_decode(data[:end]), source)
        finally:
            for source, rest in partial.items():
                if rest:
                    emit(_decode(rest), source)
        self._stream_client.api.wait(container_id)
        state = self._stream_client.api.inspect_container(container_id)["State"]
        return int(state.get("ExitCode", 255)), bool(state.get("OOMKilled"))


def _log_frames(api: Any, container_id: str) -> Iterator[tuple[str, bytes]]:
    """A container's followed log as ``(stream, data)`` frames, ``stream`` ``stdout`` or ``stderr``, in the
    order the daemon logged them: the Docker API's multiplexed stream (the engine's containers have no TTY),
    each frame an 8-byte header (its stream, then the payload's length) and the payload. docker-py's
    ``logs(stream=True)`` yields the payloads only, dropping each frame's stream, so the request is made
    here with its client."""
    response = api._get(
        api._url("/containers/{0}/logs", container_id),
        params={"stdout": 1, "stderr": 1, "follow": 1, "timestamps": 0, "tail": "all"},
        stream=True,
    )
    try:
        api._raise_for_status(response)
        while len(header := _read_exactly(response.raw, 8)) == 8:
            kind, length = struct.unpack(">BxxxL", header)
            data = _read_exactly(response.raw, length)
            if data:
                yield _FRAME_STREAMS.get(kind, "stdout"), data
            if len(data) < length:  # the log ended inside a frame
                return
    finally:
        response.close()


def _read_exactly(raw: Any, size: int) -> bytes:
    """``size`` bytes of a response body, or fewer where it ends."""
    data = b""
    while len(data) < size:
        more = raw.read(size - len(data))
        if not more:
            break
        data += more
    return data


def _decode(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    if "\r" in text:
        text = "\n".join(line.rstrip("\r") for line in text.split("\n"))
    return text
