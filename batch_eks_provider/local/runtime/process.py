"""Run a pod's containers as local processes.

Init containers run one after another, then the containers run side by side, as kubelet does. Each
container's argv is ``command + args`` (the engine has no images, so there is no image entrypoint to fall
back on: a container with neither fails at once with a clear reason). Output lines go to the
``on_output`` callback with the stream they were written to (the engine's own messages as stdout); the memory limit is enforced by watching the process tree's resident memory and killing it
(``OOMKilled``, exit code 137) when it goes over, as the kernel's cgroup OOM killer would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from ..store.fluent_bit import container_id as stable_container_id
from .containment import CgroupRoot, kill_cgroup, remove_cgroup
from .local_process import spawn
from .process_registry import ProcessRegistry, RecordedProcess, process_start_time

__all__ = ["ContainerSpec", "ContainerResult", "PodRun", "ProcessRuntime", "note_started", "StartedCallback"]

OOM_EXIT_CODE = 137
NO_COMMAND_EXIT_CODE = 128
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class ContainerSpec:
    """One container to run. The process runtime uses ``argv``, ``env`` and ``memory_limit_mib``; a container
    runtime (:mod:`.docker_runtime`) the image and the Kubernetes fields besides, with ``$(VAR)`` references
    already expanded (:mod:`.expansion`)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    memory_limit_mib: int | None = None
    image: str | None = None
    image_pull_policy: str | None = None  # None: Kubernetes' default for the image's tag
    command: list[str] | None = None  # None: the image's ENTRYPOINT
    args: list[str] | None = None  # None: the image's CMD (when command is None too)
    container_env: dict[str, str] = field(default_factory=dict)  # the pod's env and the service variables only
    cpu_limit: float | None = None
    working_dir: str | None = None
    security_context: dict[str, Any] = field(default_factory=dict)
    volume_mounts: list[dict[str, Any]] = field(default_factory=list)
    gpu_limit: int = 0


@dataclass
class ContainerResult:
    name: str
    container_id: str
    exit_code: int | None
    reason: str  # Completed | Error | OOMKilled | ContainerCannotRun | Killed


@dataclass
class PodRun:
    """One pod's processes while it runs."""

    pod_name: str
    init_containers: list[ContainerSpec]
    containers: list[ContainerSpec]
    work_dir: Path
    processes: dict[str, Any] = field(default_factory=dict)  # container name -> running process
    oom_killed: set[str] = field(default_factory=set)
    stop_reason: str | None = None  # set when the engine stops the pod (terminate, timeout, reclaim)
    stop_signal: int = signal.SIGTERM  # what a process started after the stop request gets at once
    task: asyncio.Task | None = None
    containers_started: int = 0  # of ``containers`` (not the init containers)
    container_ids: dict[str, str] = field(default_factory=dict)  # container name -> its containerID, once known


OutputCallback = Callable[[str, str, str, str], None]  # (pod_name, container_name, lines, "stdout" | "stderr")
StartedCallback = Callable[[str], None]  # (pod_name): every container of the pod has started


def note_started(run: PodRun, spec: ContainerSpec, on_started: StartedCallback | None) -> None:
    """A container of ``run`` has started; once all its (non-init) containers have, ``on_started`` hears of
    it (the pod is Running: its images pulled and its init containers done)."""
    if not any(spec is c for c in run.containers):
        return
    run.containers_started += 1
    if run.containers_started == len(run.containers) and on_started is not None:
        on_started(run.pod_name)
ExitCallback = Callable[[str, list[ContainerResult], list[ContainerResult], str | None], Awaitable[None] | None]


class ProcessRuntime:
    """Starts, watches and stops pod processes on the engine's event loop."""

    def __init__(
        self,
        work_root: Path,
        on_output: OutputCallback,
        on_exit: ExitCallback,
        grace_seconds: float = 2.0,
        memory_poll_seconds: float = 0.25,
        spawn_threads: int = 4,
        registry: ProcessRegistry | None = None,
        cgroups: CgroupRoot | None = None,
    ) -> None:
        self.work_root = work_root
        self.on_output = on_output
        self.on_exit = on_exit
        self.grace_seconds = grace_seconds
        self.memory_poll_seconds = memory_poll_seconds
        self.runs: dict[str, PodRun] = {}
        self._watched: dict[tuple[str, str], tuple[PodRun, ContainerSpec, Any]] = {}
        self._watch_task: asyncio.Task | None = None
        self._spawner = ThreadPoolExecutor(max_workers=spawn_threads, thread_name_prefix="pod-spawn")
        self.registry = registry or ProcessRegistry(None)
        self.cgroups = cgroups  # None: this machine gives the engine no cgroups; process groups only
        # told when a pod's containers have all started (init containers done); None: nobody listens
        self.on_started: StartedCallback | None = None

    def start(self, run: PodRun) -> None:
        self.runs[run.pod_name] = run
        run.task = asyncio.get_running_loop().create_task(self._run_pod(run), name=f"pod {run.pod_name}")

    def stop(self, pod_name: str, reason: str, *, force: bool = False) -> None:
        """Stop a pod: SIGTERM (SIGKILL when ``force``). The caller sends :meth:`kill` after the grace
        period, on its own clock, so that tests with a manual clock decide when the grace period ends."""
        run = self.runs.get(pod_name)
        if run is None:
            return
        run.stop_reason = run.stop_reason or reason
        if force:
            run.stop_signal = signal.SIGKILL
        for proc in run.processes.values():
            _signal_group(proc, signal.SIGKILL if force else signal.SIGTERM)

    def kill(self, pod_name: str) -> None:
        """SIGKILL every process of the pod (the end of the grace period)."""
        run = self.runs.get(pod_name)
        if run is not None:
            run.stop_signal = signal.SIGKILL
            for proc in run.processes.values():
                _signal_group(proc, signal.SIGKILL)

    async def shutdown(self) -> None:
        for name in list(self.runs):
            self.stop(name, "engine shutting down", force=True)
        tasks = [r.task for r in self.runs.values() if r.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        self._spawner.shutdown(wait=False)
        self.registry.close()

    def container_id(self, pod_name: str, container: str) -> str | None:
        """The containerID of a running pod's container (what ``eksAttempts`` will show), or None; known
        before the container's first output line reaches ``on_output``."""
        run = self.runs.get(pod_name)
        return run.container_ids.get(container) if run is not None else None

    def forget(self, pod_name: str) -> None:
        """The pod was deleted: remove its working directory."""
        if pod_name not in self.runs:
            shutil.rmtree(self.work_root / pod_name, ignore_errors=True)

    @staticmethod
    def _container_id(run: PodRun, name: str) -> str:
        """containerd's form of the container's id, the one its log stream and Fluent Bit records carry."""
        return f"containerd://{stable_container_id(run.pod_name, name)}"

    async def _run_pod(self, run: PodRun) -> None:
        """Run the pod to its end; ``on_exit`` is called whatever goes wrong (short of the task being
        cancelled), so no job stays RUNNING for ever."""
        init_results: list[ContainerResult] = []
        results: list[ContainerResult] = []
        try:
            run.work_dir.mkdir(parents=True, exist_ok=True)
            for spec in run.init_containers:
                result = await self._run_container(run, spec)
                init_results.append(result)
                if result.exit_code != 0 or run.stop_reason:
                    break
            else:
                if len(run.containers) == 1:
                    results = [await self._run_container(run, run.containers[0])]
                else:
                    results = list(await asyncio.gather(*(self._run_container(run, s) for s in run.containers)))
        except Exception as e:  # noqa: BLE001 - an engine bug must still end the attempt
            for proc in run.processes.values():
                _signal_group(proc, signal.SIGKILL)
            done = {r.name for r in init_results + results}
            results = results + [
                ContainerResult(s.name, self._container_id(run, s.name), NO_COMMAND_EXIT_CODE, "ContainerCannotRun")
                for s in run.containers
                if s.name not in done
            ]
            self.on_output(run.pod_name, run.containers[0].name if run.containers else "pod", f"pod failed to run: {e!r}", "stdout")
        finally:
            self.runs.pop(run.pod_name, None)
        outcome = self.on_exit(run.pod_name, init_results, results, run.stop_reason)
        if asyncio.iscoroutine(outcome):
            await outcome

    async def _run_container(self, run: PodRun, spec: ContainerSpec) -> ContainerResult:
        container_id = run.container_ids[spec.name] = self._container_id(run, spec.name)
        if run.stop_reason:
            return ContainerResult(spec.name, container_id, None, "Killed")
        if not spec.argv:
            self.on_output(
                run.pod_name,
                spec.name,
                f"container {spec.name!r} has no command or args: the local engine runs commands, not image "
                "entrypoints; set command in the job definition or in eksPropertiesOverride.",
                "stdout",
            )
            return ContainerResult(spec.name, container_id, NO_COMMAND_EXIT_CODE, "ContainerCannotRun")
        cgroup = self.cgroups.new_cgroup() if self.cgroups is not None else None
        try:
            proc = await spawn(
                spec.argv,
                spec.env,
                str(run.work_dir),
                lambda line, source: self.on_output(run.pod_name, spec.name, line, source),
                self._spawner,
                cgroup,
            )
        except (OSError, ValueError, TypeError, subprocess.SubprocessError) as e:  # ValueError: a NUL byte in argv or env
            remove_cgroup(cgroup)
            self.on_output(run.pod_name, spec.name, f"failed to start {spec.argv[0]!r}: {e}", "stdout")
            return ContainerResult(spec.name, container_id, NO_COMMAND_EXIT_CODE, "ContainerCannotRun")
        start_time = process_start_time(proc.pid)
        self.registry.started(
            RecordedProcess(run.pod_name, spec.name, proc.pid, start_time, proc.pid, str(cgroup) if cgroup else None)
        )
        run.processes[spec.name] = proc
        note_started(run, spec, self.on_started)
        if run.stop_reason:  # stopped while the process was being spawned
            _signal_group(proc, run.stop_signal)
        if spec.memory_limit_mib:
            self._watch(run, spec, proc)
        try:
            code = await proc.wait()
        finally:
            self._watched.pop((run.pod_name, spec.name), None)
            run.processes.pop(spec.name, None)
            await self._release(proc, cgroup, start_time)
        if spec.name in run.oom_killed:
            return ContainerResult(spec.name, container_id, OOM_EXIT_CODE, "OOMKilled")
        exit_code = code if code >= 0 else 128 - code
        return ContainerResult(spec.name, container_id, exit_code, "Completed" if exit_code == 0 else "Error")

    async def _release(self, proc: Any, cgroup: Path | None, start_time: int | None) -> None:
        """The leader has exited: kill what is left in its cgroup, wait (bounded) for the cgroup to empty
        and remove it, then strike the container from the registry."""
        kill_cgroup(cgroup)
        for _ in range(250):  # up to ~5 s: SIGKILLed processes are gone in milliseconds
            if remove_cgroup(cgroup):
                break
            await asyncio.sleep(0.02)
        self.registry.ended(proc.pid, start_time)

    def _watch(self, run: PodRun, spec: ContainerSpec, proc) -> None:
        """Put a container under the memory watch: one task polls every watched container."""
        self._watched[(run.pod_name, spec.name)] = (run, spec, proc)
        if self._watch_task is None or self._watch_task.done():
            self._watch_task = asyncio.get_running_loop().create_task(self._watch_memory(), name="memory watch")

    async def _watch_memory(self) -> None:
        """Every poll, read the watched process trees' memory from /proc on a worker thread (hundreds of
        containers mean thousands of small file reads, which must not hold up the API on the loop),
        then apply the OOM kills back on the loop."""
        loop = asyncio.get_running_loop()
        while self._watched:
            await asyncio.sleep(self.memory_poll_seconds)
            polled = [(key, proc) for key, (_, _, proc) in self._watched.items() if proc.returncode is None]
            if not polled:
                continue
            try:
                usage = await loop.run_in_executor(self._spawner, _rss_of_trees, [proc.pid for _, proc in polled])
            except RuntimeError:  # the executor was shut down: the engine is stopping
                return
            for (key, polled_proc), rss in zip(polled, usage):
                entry = self._watched.get(key)
                if entry is None or entry[2] is not polled_proc or polled_proc.returncode is not None:
                    continue  # ended (or replaced) while /proc was being read
                run, spec, proc = entry
                if rss > (spec.memory_limit_mib or 0) * 1024 * 1024:
                    run.oom_killed.add(spec.name)
                    self._watched.pop(key, None)
                    self.on_output(run.pod_name, spec.name, f"memory limit of {spec.memory_limit_mib}Mi exceeded: OOMKilled", "stdout")
                    _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: Any, sig: int) -> None:
    if sig == signal.SIGKILL:
        kill_cgroup(getattr(proc, "cgroup", None))  # daemons that left the group die too
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _rss_of_trees(pids: list[int]) -> list[int]:
    """Resident memory of each process tree (runs on a worker thread)."""
    return [_tree_rss_bytes(pid) for pid in pids]


def _tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants, read from /proc."""
    total, stack, seen = 0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            with open(f"/proc/{current}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE_SIZE
            with open(f"/proc/{current}/task/{current}/children") as f:
                stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError, PermissionError):
            continue
    return total
