"""Fixtures for the scheduler/capacity/runtime tests: the engines of :mod:`tests.engine.conftest` (``make_env``,
``env``, ``slots``, ``manual``). The names below are those other test modules import from here."""

from __future__ import annotations

from tests.engine.conftest import CLUSTER_ARN, NAMESPACE, Env, ManualClock, admin, env, make_env  # noqa: F401

__all__ = ["Env", "admin", "ManualClock", "CLUSTER_ARN", "NAMESPACE"]
