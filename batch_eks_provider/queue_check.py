"""Moved to :mod:`batch_eks_provider.hooks.queue_check`; this alias goes once the last imports are updated."""

from __future__ import annotations

import warnings

from .hooks.queue_check import *  # noqa: F401,F403
from .hooks.queue_check import ResourceRequirement, compute_environment_report  # noqa: F401

warnings.warn("batch_eks_provider.queue_check moved to batch_eks_provider.hooks.queue_check", DeprecationWarning, stacklevel=2)
