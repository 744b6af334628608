"""Which planned provider and engine features have landed, so example-DAG tests can wait on them.

The example DAGs are written against the provider's planned API (issue 3). While a feature is still being
built in another lane, the tests that need it are marked ``xfail(strict=False)`` through :func:`waiting_on`;
once the feature lands the mark is a no-op and the test must pass.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

__all__ = ["missing_features", "waiting_on"]

_OPERATOR_PARAMETERS = (
    "depends_on",
    "retry_strategy",
    "permanent_exit_codes",
    "array_size",
    "deferrable",
    "share_identifier",
    "scheduling_priority",
    "tags",
)


def _has_attribute(module: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


def _operator_accepts(parameter: str) -> bool:
    from batch_eks_provider.operators.batch import BatchEksSubmitJobOperator

    return parameter in inspect.signature(BatchEksSubmitJobOperator.__init__).parameters


def _engine_supports(operation: str) -> bool:
    from batch_eks_provider.local.api.batch import OPERATIONS

    return operation.lower() in OPERATIONS


def _present(feature: str) -> bool:
    if feature in _OPERATOR_PARAMETERS:
        return _operator_accepts(feature)
    if feature == "RetryStrategy":
        return _has_attribute("batch_eks_provider.retry", "RetryStrategy")
    if feature == "BatchEksScaleComputeEnvironmentOperator":
        return _has_attribute("batch_eks_provider.operators.batch", feature)
    if feature == "BatchEksPodHook":
        return _has_attribute("batch_eks_provider.hooks.pods", feature)
    if feature in ("CreateSchedulingPolicy", "ListSchedulingPolicies"):
        return _engine_supports(feature)
    raise ValueError(f"Unknown feature {feature!r}: add how to detect it to tests/product/features.py.")


def missing_features(*features: str) -> list[str]:
    """The features among ``features`` that have not landed on this branch yet."""
    return [feature for feature in features if not _present(feature)]


def waiting_on(*features: str) -> pytest.MarkDecorator:
    """``xfail(strict=False)`` while any of ``features`` is missing; a no-op once all have landed."""
    missing = missing_features(*features)
    return pytest.mark.xfail(bool(missing), strict=False, reason=f"waiting on {', '.join(missing)}")
