"""Moved to :mod:`batch_eks_provider.retry_strategy`; this alias goes once the last imports are updated."""

from __future__ import annotations

import warnings

from .retry_strategy import *  # noqa: F401,F403
from .retry_strategy import RetryRule, RetryStrategy  # noqa: F401

warnings.warn("batch_eks_provider.retry moved to batch_eks_provider.retry_strategy", DeprecationWarning, stacklevel=2)
