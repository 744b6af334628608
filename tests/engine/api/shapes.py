"""Check the engine's raw JSON responses against botocore's output shapes.

:func:`shape_problems` walks one wire value against one botocore shape and lists every mismatch with
its path: unknown keys, wrong types (``Long``/``Integer`` must be JSON integers, ``Boolean`` a JSON
boolean, ``Float`` a number), missing required members and values outside an enum.
:class:`ResponseShapeRecorder` hooks a boto3 client so every response it receives is checked as it
arrives, from the raw body, before botocore's parser could hide a problem.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.model import Shape

__all__ = ["shape_problems", "ResponseShapeRecorder", "KNOWN_MODEL_GAPS"]

# Members botocore marks required on an output shape that AWS itself leaves out. JobDetail.startedAt is
# absent until the job starts (a job cancelled while RUNNABLE never has one): boto3 does not enforce
# output "required", and real DescribeJobs responses omit it.
KNOWN_MODEL_GAPS = frozenset({("JobDetail", "startedAt")})


def shape_problems(value: Any, shape: Shape, path: str = "$") -> list[str]:
    """Every way ``value`` (decoded JSON) departs from botocore ``shape``, as ``"<path>: <problem>"``."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected an object ({shape.name}), got {type(value).__name__} {value!r:.80}"]
        problems = []
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                problems.append(f"{path}: unknown key {key!r} for {shape.name}")
                continue
            problems += shape_problems(item, member, f"{path}.{key}")
        for required in shape.required_members:
            if required not in value and (shape.name, required) not in KNOWN_MODEL_GAPS:
                problems.append(f"{path}: required key {required!r} of {shape.name} is missing")
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list ({shape.name}), got {type(value).__name__} {value!r:.80}"]
        problems = []
        for i, item in enumerate(value):
            problems += shape_problems(item, shape.member, f"{path}[{i}]")
        return problems
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected a map ({shape.name}), got {type(value).__name__} {value!r:.80}"]
        problems = []
        for key, item in value.items():
            problems += shape_problems(key, shape.key, f"{path}<key {key!r}>")
            problems += shape_problems(item, shape.value, f"{path}[{key!r}]")
        return problems
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string ({shape.name}), got {type(value).__name__} {value!r:.80}"]
        if shape.enum and value not in shape.enum:
            return [f"{path}: {value!r} is not one of {shape.name} {list(shape.enum)}"]
        return []
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: expected an integer ({shape.name}), got {type(value).__name__} {value!r:.80}"]
        return []
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{path}: expected a number ({shape.name}), got {type(value).__name__} {value!r:.80}"]
        return []
    if kind == "boolean":
        if not isinstance(value, bool):
            return [f"{path}: expected a boolean ({shape.name}), got {type(value).__name__} {value!r:.80}"]
        return []
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return [f"{path}: expected a timestamp ({shape.name}), got {type(value).__name__} {value!r:.80}"]
        return []
    if kind == "blob":
        if not isinstance(value, str):
            return [f"{path}: expected base64 text ({shape.name}), got {type(value).__name__}"]
        return []
    return [f"{path}: shape type {kind!r} of {shape.name} is not handled by the checker"]


class ResponseShapeRecorder:
    """Check every successful response a boto3 client receives against its operation's output shape.

    ``recorder.attach(client)``; after the calls, ``recorder.problems`` lists mismatches (empty when the
    wire is faithful) and ``recorder.operations`` the operations whose responses were checked.
    """

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.operations: list[str] = []

    def attach(self, client: Any) -> Any:
        client.meta.events.register("after-call", self._check)
        return client

    def _check(self, http_response: Any, parsed: Any, model: Any, **kwargs: Any) -> None:
        if http_response.status_code >= 300:
            return
        self.operations.append(model.name)
        body = http_response.content
        if model.output_shape is None:
            return
        try:
            value = json.loads(body) if body.strip() else {}
        except ValueError:
            self.problems.append(f"{model.name}: response body is not JSON: {body[:200]!r}")
            return
        self.problems += [f"{model.name} {p}" for p in shape_problems(value, model.output_shape)]

    def check(self, operation_name: str, value: Any, client: Any) -> list[str]:
        """Check one already-decoded response body (for raw HTTP callers)."""
        shape = client.meta.service_model.operation_model(operation_name).output_shape
        return shape_problems(value, shape)
