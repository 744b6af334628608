"""Operators for AWS Batch jobs on Amazon EKS.

DAGs import them from here; they live in :mod:`.submit` and :mod:`.compute_environment`.
"""

from __future__ import annotations

from .compute_environment import BatchEksScaleComputeEnvironmentOperator
from .submit import BatchEksSubmitJobOperator

__all__ = ["BatchEksSubmitJobOperator", "BatchEksScaleComputeEnvironmentOperator"]
