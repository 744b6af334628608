"""AWS Batch rest-json routes: ``POST /v1/<operation in lower case>`` and ``GET|POST|DELETE /v1/tags/{resourceArn}``.

Each request is parsed (:func:`~.wire.read_json`), checked against botocore's input shape for the
operation (:func:`~.input_shapes.validate_input`), then handed to the service layer.
"""

from __future__ import annotations

from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import ClientException
from ..service import compute_environments, job_definitions, job_queues, jobs, queue_snapshot, scheduling_policies, tags
from .input_shapes import validate_input
from .wire import aws_call, read_json

__all__ = ["batch_routes", "OPERATIONS"]

Handler = Callable[[Any, dict[str, Any]], Any]  # (engine, params) -> wire response


def _waking(fn: Callable[[Any, dict[str, Any]], Any]) -> Handler:
    """Changes to queues, compute environments and policies need a scheduler pass."""

    def handler(engine, params):
        result = fn(engine.state, params)
        engine.scheduler.wake()
        return result

    return handler


def _reading(fn: Callable[[Any, dict[str, Any]], Any]) -> Handler:
    return lambda engine, params: fn(engine.state, params)


# operation path (lower case) -> (operation name, handler)
OPERATIONS: dict[str, tuple[str, Handler]] = {
    "submitjob": ("SubmitJob", lambda e, p: jobs.submit(e.state, e.scheduler, p)),
    "describejobs": ("DescribeJobs", _reading(jobs.describe)),
    "getjobqueuesnapshot": ("GetJobQueueSnapshot", lambda e, p: queue_snapshot.snapshot(e.state, e.scheduler.fairshare, p)),
    "listjobs": ("ListJobs", _reading(jobs.list_jobs)),
    "terminatejob": ("TerminateJob", lambda e, p: jobs.terminate(e.state, e.scheduler, p)),
    "canceljob": ("CancelJob", lambda e, p: jobs.cancel(e.state, e.scheduler, p)),
    "terminatejobs": ("TerminateJobs", lambda e, p: jobs.terminate_many(e.state, e.scheduler, p)),
    "canceljobs": ("CancelJobs", lambda e, p: jobs.cancel_many(e.state, e.scheduler, p)),
    "registerjobdefinition": ("RegisterJobDefinition", _reading(job_definitions.register)),
    "describejobdefinitions": ("DescribeJobDefinitions", _reading(job_definitions.describe)),
    "deregisterjobdefinition": ("DeregisterJobDefinition", _reading(job_definitions.deregister)),
    "createcomputeenvironment": ("CreateComputeEnvironment", _waking(compute_environments.create)),
    "updatecomputeenvironment": ("UpdateComputeEnvironment", _waking(compute_environments.update)),
    "deletecomputeenvironment": ("DeleteComputeEnvironment", _waking(compute_environments.delete)),
    "describecomputeenvironments": ("DescribeComputeEnvironments", _reading(compute_environments.describe)),
    "createjobqueue": ("CreateJobQueue", _waking(job_queues.create)),
    "updatejobqueue": ("UpdateJobQueue", _waking(job_queues.update)),
    "deletejobqueue": ("DeleteJobQueue", _waking(job_queues.delete)),
    "describejobqueues": ("DescribeJobQueues", _reading(job_queues.describe)),
    "createschedulingpolicy": ("CreateSchedulingPolicy", _reading(scheduling_policies.create)),
    "updateschedulingpolicy": ("UpdateSchedulingPolicy", _waking(scheduling_policies.update)),
    "deleteschedulingpolicy": ("DeleteSchedulingPolicy", _reading(scheduling_policies.delete)),
    "describeschedulingpolicies": ("DescribeSchedulingPolicies", _reading(scheduling_policies.describe)),
    "listschedulingpolicies": ("ListSchedulingPolicies", _reading(scheduling_policies.list_policies)),
}

_TAG_OPERATIONS: dict[str, tuple[str, Handler]] = {
    "GET": ("ListTagsForResource", _reading(tags.list_tags)),
    "POST": ("TagResource", _reading(tags.tag_resource)),
    "DELETE": ("UntagResource", _reading(tags.untag_resource)),
}


async def _operation(request: Request) -> Response:
    engine = request.app.state.engine
    path = request.path_params["operation"]
    entry = OPERATIONS.get(path.lower())
    if entry is None:

        def unknown():
            raise ClientException(f"Unknown or unsupported AWS Batch operation {path!r}.")

        return await aws_call(request, "batch", path, unknown)
    name, handler = entry

    async def call():
        if request.method != "POST":
            raise ClientException(f"{name} is called with POST /v1/{path.lower()}, not {request.method}.")
        params = validate_input("batch", name, await read_json(request))
        return handler(engine, params)

    return await aws_call(request, "batch", name, call)


async def _tags(request: Request) -> Response:
    engine = request.app.state.engine
    name, handler = _TAG_OPERATIONS[request.method]

    async def call():
        params = await read_json(request) if request.method == "POST" else {}
        params["resourceArn"] = request.path_params["resourceArn"]
        if request.method == "DELETE":
            params["tagKeys"] = request.query_params.getlist("tagKeys")
        return handler(engine, validate_input("batch", name, params))

    return await aws_call(request, "batch", name, call)


def batch_routes() -> list[Route]:
    return [
        Route("/v1/tags/{resourceArn:path}", _tags, methods=["GET", "POST", "DELETE"]),
        Route("/v1/{operation}", _operation, methods=["POST", "GET", "PUT", "DELETE", "PATCH"]),
    ]
