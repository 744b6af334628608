"""Fixtures of the provider-hook tests: hooks on ``aws_default`` pointed at a fresh engine."""

from __future__ import annotations

import pytest


@pytest.fixture
def batch_hook(aws_default):
    from batch_eks_provider.hooks.batch import BatchEksHook

    return BatchEksHook(aws_conn_id="aws_default")


@pytest.fixture
def ce_hook(aws_default):
    from batch_eks_provider.hooks.compute_environment import BatchEksComputeEnvironmentHook

    return BatchEksComputeEnvironmentHook(aws_conn_id="aws_default")
