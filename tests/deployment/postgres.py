"""The deployment tests' PostgreSQL: the private cluster of :mod:`batch_eks_provider.tools.local_postgres`."""

from batch_eks_provider.tools.local_postgres import Cluster, free_port, start_cluster, unavailable_reason

__all__ = ["Cluster", "free_port", "start_cluster", "unavailable_reason"]
