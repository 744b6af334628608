"""How the engine runs a pod: each container as a local process (command + args + env)."""

from .process import ContainerResult, PodRun, ProcessRuntime

__all__ = ["ContainerResult", "PodRun", "ProcessRuntime"]
