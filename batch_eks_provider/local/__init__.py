"""The local engine: AWS Batch on EKS on one machine.

It speaks the real wire protocols on one loopback port (AWS Batch rest-json, EKS DescribeCluster,
CloudWatch Logs and a Kubernetes core/v1 subset), schedules jobs onto simulated nodes of managed EKS
compute environments and runs each attempt's containers as local processes.

Start it with ``batch-eks local serve`` or, in Python, with :class:`LocalEngine`::

    from batch_eks_provider.local import LocalEngine

    with LocalEngine(blueprint="data-on-eks") as engine:
        print(engine.url)
"""

from .clock import ManualClock, SystemClock
from .server import LocalEngine
from .store.state import EngineConfig

__all__ = ["LocalEngine", "EngineConfig", "ManualClock", "SystemClock"]
