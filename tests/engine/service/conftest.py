"""Fixtures of the service-layer tests: what a Batch operation accepts, refuses and answers.

The engines (``make_env``, ``env``, ``slots``, ``manual``) come from :mod:`tests.engine.conftest`. The boto3
client is the API tests' shape-checked one (``batch``, with its ``shapes`` recorder): every answer a service
test gets must also match botocore's output shape. It stays in :mod:`tests.engine.api.conftest` rather than
:mod:`tests.engine.conftest` because there it would replace the plain ``batch`` client of the Kubernetes tests.
"""

from __future__ import annotations

from tests.engine.api.conftest import batch, shapes  # noqa: F401 - fixtures
