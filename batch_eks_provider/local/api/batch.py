"""AWS Batch rest-json routes: ``POST /v1/<operation in lower case>`` (tags: ``/v1/tags/{resourceArn}``)."""

from __future__ import annotations

from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import ClientException
from ..service import compute_environments, job_definitions, job_queues, jobs
from .wire import aws_call, read_json

__all__ = ["batch_routes"]

Handler = Callable[[Any, dict[str, Any]], Any]  # (engine, params) -> wire response


def _waking(fn: Callable[[Any, dict[str, Any]], Any]) -> Handler:
    """Changes to queues and compute environments need a scheduler pass."""

    def handler(engine, params):
        result = fn(engine.state, params)
        engine.scheduler.wake()
        return result

    return handler


# operation path (lower case) -> (operation name, handler)
OPERATIONS: dict[str, tuple[str, Handler]] = {
    "submitjob": ("SubmitJob", lambda e, p: jobs.submit(e.state, e.scheduler, p)),
    "describejobs": ("DescribeJobs", lambda e, p: jobs.describe(e.state, p)),
    "listjobs": ("ListJobs", lambda e, p: jobs.list_jobs(e.state, p)),
    "terminatejob": ("TerminateJob", lambda e, p: jobs.terminate(e.state, e.scheduler, p)),
    "canceljob": ("CancelJob", lambda e, p: jobs.cancel(e.state, e.scheduler, p)),
    "registerjobdefinition": ("RegisterJobDefinition", lambda e, p: job_definitions.register(e.state, p)),
    "describejobdefinitions": ("DescribeJobDefinitions", lambda e, p: job_definitions.describe(e.state, p)),
    "deregisterjobdefinition": ("DeregisterJobDefinition", lambda e, p: job_definitions.deregister(e.state, p)),
    "createcomputeenvironment": ("CreateComputeEnvironment", _waking(compute_environments.create)),
    "updatecomputeenvironment": ("UpdateComputeEnvironment", _waking(compute_environments.update)),
    "deletecomputeenvironment": ("DeleteComputeEnvironment", _waking(compute_environments.delete)),
    "describecomputeenvironments": ("DescribeComputeEnvironments", lambda e, p: compute_environments.describe(e.state, p)),
    "createjobqueue": ("CreateJobQueue", _waking(job_queues.create)),
    "updatejobqueue": ("UpdateJobQueue", _waking(job_queues.update)),
    "deletejobqueue": ("DeleteJobQueue", _waking(job_queues.delete)),
    "describejobqueues": ("DescribeJobQueues", lambda e, p: job_queues.describe(e.state, p)),
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
        return handler(engine, await read_json(request))

    return await aws_call(request, "batch", name, call)


def batch_routes() -> list[Route]:
    return [Route("/v1/{operation}", _operation, methods=["POST"])]
