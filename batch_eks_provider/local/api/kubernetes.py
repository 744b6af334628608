"""The Kubernetes core/v1 subset the official ``kubernetes`` client uses against the engine.

- ``GET /version``, ``GET /api``, ``GET /api/v1``, ``GET /apis``
- ``GET /api/v1/namespaces``, ``GET /api/v1/namespaces/{name}``: the CE namespaces and the system ones
- ``GET /api/v1/nodes``, ``GET /api/v1/nodes/{name}``: the simulated nodes (labels, Batch taints, capacity)
- ``GET /api/v1/pods``, ``GET /api/v1/namespaces/{ns}/pods`` (``labelSelector``, ``fieldSelector``, ``limit``,
  ``continue``), ``GET|DELETE /api/v1/namespaces/{ns}/pods/{name}``
- ``watch=true`` on the three lists (:mod:`.kubernetes_watch`)
- ``GET /api/v1/events``, ``GET /api/v1/namespaces/{ns}/events`` (``fieldSelector`` on ``involvedObject.*``):
  the pods' and nodes' events (:mod:`.kubernetes_events`), for ``kubectl describe``
- ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``: lists, objects and watch events of pods, nodes
  and namespaces as ``meta.k8s.io/v1`` Tables, kubectl's columns (:mod:`.kubernetes_tables`)
- ``GET /api/v1/namespaces/{ns}/pods/{name}/log`` with ``container``, ``follow``, ``sinceSeconds``,
  ``sinceTime``, ``tailLines``, ``timestamps``, ``limitBytes``: ``follow=true`` streams lines while the pod
  runs and ends when it ends.

Any bearer token is accepted (the engine serves loopback). Errors are ``Status`` objects. Which pods, nodes,
namespaces and log lines exist, and deleting a pod, are the service layer's (:mod:`..service.pods`); these
routes parse the query and render the records.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import uuid
from datetime import datetime
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..service import pods
from ..store.logs import LogLine
from ..store.models import Pod
from .kubernetes_events import EVENT_FIELDS, node_events, pod_events
from .kubernetes_tables import TABLE_MEDIA_TYPE, include_object, table, wants_table
from .kubernetes_watch import watch_response
from .kubernetes_objects import (
    KUBERNETES_VERSION,
    FieldSelector,
    KubernetesError,
    LabelSelector,
    list_object,
    namespace_object,
    node_object,
    pod_arrival_states,
    pod_departure_states,
    pod_object,
    rfc3339_nano,
    select,
    status_object,
)

__all__ = ["kubernetes_routes"]


# -- plumbing ----------------------------------------------------------------------------------------------------
def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")), status_code=status, media_type="application/json"
    )


def _as_requested(
    request: Request, kind: str, list_kind: str | None, objects: list[dict[str, Any]], version: str,
    token: str | None = None, remaining: int | None = None,
) -> Response:
    """The objects as the client's ``Accept`` asks: a Table, a ``list_kind`` list, or (``list_kind`` None)
    the one object."""
    engine = request.app.state.engine
    if wants_table(request):
        body = table(kind, objects, engine.clock.now(), include_object(request), version, token, remaining)
        return Response(json.dumps(body, separators=(",", ":")), media_type=TABLE_MEDIA_TYPE)
    if list_kind is None:
        return _json(objects[0])
    return _json(list_object(list_kind, objects, version, token, remaining))


def _watch_encoder(request: Request, kind: str) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """What each watch event carries: a Table of one row when the client asks for Tables."""
    if not wants_table(request):
        return None
    engine, include = request.app.state.engine, include_object(request)
    return lambda obj: table(kind, [obj], engine.clock.now(), include, _resource_version(engine))


def _k8s(
    operation: str,
) -> Callable[[Callable[[Request], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler: ``Status`` errors and the API request metric (service ``kubernetes``)."""

    def decorate(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            metrics = request.app.state.engine.metrics
            try:
                response = await handler(request)
                metrics.api_request("kubernetes", operation, "ok")
                return response
            except KubernetesError as e:
                metrics.api_request("kubernetes", operation, e.reason)
                return _json(status_object(e), e.code)
            except Exception as e:  # noqa: BLE001 - a bug must answer a Status, not drop the connection
                metrics.api_request("kubernetes", operation, "InternalError")
                error = KubernetesError(
                    500, "InternalError", f"Internal error in {operation}: {type(e).__name__}: {e}"
                )
                return _json(status_object(error), 500)

        return wrapped

    return decorate


def _resource_version(engine: Any) -> str:
    return str(engine.clock.now_ms())


_INT64_MAX = 2**63 - 1
_INTEGER_RE = re.compile(r"^[+-]?[0-9]{1,19}$")


def _int_param(request: Request, name: str, minimum: int = 0) -> int | None:
    """An integer query parameter as the apiserver reads one (an int64: ASCII digits, optional sign);
    anything else is a ``400 BadRequest`` Status naming the parameter."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    shown = raw if len(raw) <= 40 else f"{raw[:40]}... ({len(raw)} characters)"
    value = int(raw) if _INTEGER_RE.match(raw) else None
    if value is None or not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise KubernetesError.bad_request(f"invalid {name} {shown!r}: must be a 64-bit integer")
    if value < minimum:
        raise KubernetesError.bad_request(
            f"invalid {name} {shown!r}: must be greater than or equal to {minimum}"
        )
    return value


def _bool_param(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() in ("true", "1", "yes")


def _watching(request: Request) -> bool:
    return _bool_param(request, "watch")


def _paginate(
    request: Request, items: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], str | None, int | None]:
    limit = _int_param(request, "limit", minimum=0) or 0
    token = request.query_params.get("continue")
    start = 0
    if token:
        try:
            start = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
        except (ValueError, KeyError, TypeError, IndexError, RecursionError):
            start = None
        if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start <= _INT64_MAX:
            shown = token if len(token) <= 60 else f"{token[:60]}..."
            raise KubernetesError.bad_request(f"invalid continue token {shown!r}: not a token this server returned")
    if not limit:
        return items[start:], None, None
    page = items[start : start + limit]
    if start + limit >= len(items):
        return page, None, None
    token = base64.urlsafe_b64encode(json.dumps({"start": start + limit}).encode()).decode()
    return page, token, len(items) - start - limit


def _namespace_uid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"batch-eks-local/namespaces/{name}"))


# -- discovery -----------------------------------------------------------------------------------------------------
@_k8s("get_version")
async def _version(request: Request) -> Response:
    return JSONResponse(KUBERNETES_VERSION)


@_k8s("get_api_versions")
async def _api(request: Request) -> Response:
    return _json(
        {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": request.url.netloc}],
        }
    )


@_k8s("get_api_groups")
async def _apis(request: Request) -> Response:
    return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})


def _resource(
    name: str, kind: str, namespaced: bool, verbs: list[str], singular: str = "",
    short_names: tuple[str, ...] = (), categories: tuple[str, ...] = (),
) -> dict[str, Any]:
    """An ``APIResource`` as the API server lists it (the verbs: those the engine serves)."""
    resource: dict[str, Any] = {
        "name": name, "singularName": singular, "namespaced": namespaced, "kind": kind, "verbs": verbs
    }
    if short_names:
        resource["shortNames"] = list(short_names)
    if categories:
        resource["categories"] = list(categories)
    return resource


@_k8s("get_api_resources")
async def _api_v1(request: Request) -> Response:
    return _json(
        {
            "kind": "APIResourceList",
            "groupVersion": "v1",
            "resources": [
                _resource("events", "Event", True, ["list"], "event", ("ev",)),
                _resource("namespaces", "Namespace", False, ["get", "list", "watch"], "namespace", ("ns",)),
                _resource("nodes", "Node", False, ["get", "list", "watch"], "node", ("no",)),
                _resource("pods", "Pod", True, ["delete", "get", "list", "watch"], "pod", ("po",), ("all",)),
                _resource("pods/log", "Pod", True, ["get"]),
            ],
        }
    )


@_k8s("not_found")
async def _unknown(request: Request) -> Response:
    raise KubernetesError(404, "NotFound", "the server could not find the requested resource")


# -- namespaces and nodes ---------------------------------------------------------------------------------------
@_k8s("list_namespace")
async def _list_namespaces(request: Request) -> Response:
    engine = request.app.state.engine
    label_selector = LabelSelector(request.query_params.get("labelSelector"))
    field_selector = FieldSelector(request.query_params.get("fieldSelector"), pods.NAMESPACE_FIELDS)

    def matching() -> dict[str, float]:
        return pods.list_namespaces(engine.state, label_selector, field_selector)

    def render(name: str, created: float) -> dict[str, Any]:
        return namespace_object(name, _namespace_uid(name), created, _resource_version(engine))

    if _watching(request):
        return watch_response(
            request,
            lambda: {n: (c, lambda n=n, c=c: render(n, c)) for n, c in matching().items()},
            _watch_encoder(request, "Namespace"),
        )
    version = _resource_version(engine)
    items = [render(name, created) for name, created in matching().items()]
    page, token, remaining = _paginate(request, items)
    return _as_requested(request, "Namespace", "NamespaceList", page, version, token, remaining)


@_k8s("read_namespace")
async def _read_namespace(request: Request) -> Response:
    engine = request.app.state.engine
    name = request.path_params["name"]
    created = pods.find_namespace(engine.state, name)
    version = _resource_version(engine)
    return _as_requested(
        request, "Namespace", None, [namespace_object(name, _namespace_uid(name), created, version)], version
    )


def _node_json(view: pods.NodeView, version: str) -> dict[str, Any]:
    return node_object(view.node, view.compute_environment, view.region, version, view.kubernetes_version)


@_k8s("list_node")
async def _list_nodes(request: Request) -> Response:
    engine = request.app.state.engine
    label_selector = LabelSelector(request.query_params.get("labelSelector"))
    field_selector = FieldSelector(request.query_params.get("fieldSelector"), pods.NODE_FIELDS)

    def matching() -> list[tuple[Any, dict[str, Any]]]:
        views = pods.list_nodes(engine.state, label_selector, field_selector)
        return [(v.node, _node_json(v, _resource_version(engine))) for v in views]

    if _watching(request):
        return watch_response(
            request,
            lambda: {n.name: (n.status, lambda body=body: body) for n, body in matching()},
            _watch_encoder(request, "Node"),
        )
    page, token, remaining = _paginate(request, [body for _, body in matching()])
    return _as_requested(request, "Node", "NodeList", page, _resource_version(engine), token, remaining)


@_k8s("read_node")
async def _read_node(request: Request) -> Response:
    engine = request.app.state.engine
    view = pods.find_node(engine.state, request.path_params["name"])
    version = _resource_version(engine)
    return _as_requested(request, "Node", None, [_node_json(view, version)], version)


# -- pods -----------------------------------------------------------------------------------------------------------
def _pod_fingerprint(pod: Pod) -> tuple[Any, ...]:
    return pod.phase, pod.started_at, pod.finished_at, pod.deleted, tuple(sorted(pod.container_states))


async def _list_pods(request: Request, namespace: str | None) -> Response:
    engine = request.app.state.engine
    label_selector = LabelSelector(request.query_params.get("labelSelector"))
    field_selector = FieldSelector(request.query_params.get("fieldSelector"), pods.POD_FIELDS)

    def matching() -> list[Pod]:
        return pods.list_pods(engine.state, namespace, label_selector, field_selector)

    if _watching(request):
        return watch_response(
            request,
            lambda: {
                p.name: (_pod_fingerprint(p), lambda p=p: pod_object(p, _resource_version(engine)))
                for p in matching()
            },
            _watch_encoder(request, "Pod"),
            pod_arrival_states,
            lambda obj: pod_departure_states(obj, engine.clock.now()),
            lambda name: pods.pod_created_ms(engine.state, name),
        )
    version = _resource_version(engine)
    page, token, remaining = _paginate(request, [pod_object(p, version) for p in matching()])
    return _as_requested(request, "Pod", "PodList", page, version, token, remaining)


@_k8s("list_pod_for_all_namespaces")
async def _list_all_pods(request: Request) -> Response:
    return await _list_pods(request, None)


@_k8s("list_namespaced_pod")
async def _list_namespaced_pods(request: Request) -> Response:
    return await _list_pods(request, request.path_params["namespace"])


@_k8s("read_namespaced_pod")
async def _read_pod(request: Request) -> Response:
    engine = request.app.state.engine
    pod = pods.find_pod(engine.state, request.path_params["namespace"], request.path_params["name"])
    version = _resource_version(engine)
    return _as_requested(request, "Pod", None, [pod_object(pod, version)], version)


@_k8s("delete_namespaced_pod")
async def _delete_pod(request: Request) -> Response:
    """Delete a pod (:func:`..service.pods.delete_pod`); the answer is the pod marked for deletion."""
    engine = request.app.state.engine
    body = pods.delete_pod(
        engine.state, engine.scheduler, request.path_params["namespace"], request.path_params["name"],
        lambda pod: pod_object(pod, _resource_version(engine)),
    )
    return _json(body)


# -- events ------------------------------------------------------------------------------------------------------
async def _list_events(request: Request, namespace: str | None) -> Response:
    engine = request.app.state.engine
    label_selector = LabelSelector(request.query_params.get("labelSelector"))
    field_selector = FieldSelector(request.query_params.get("fieldSelector"), EVENT_FIELDS)
    events = pod_events(pods.visible_pods(engine.state))
    if namespace in (None, "default"):
        events += node_events(pods.live_nodes(engine.state))
    events = [e for e in events if namespace is None or e["metadata"]["namespace"] == namespace]
    events.sort(key=lambda e: int(e["metadata"]["resourceVersion"]))  # by time; stable: a pod's own order
    found = select(events, lambda e: {}, label_selector, field_selector)
    page, token, remaining = _paginate(request, found)
    return _json(list_object("EventList", page, _resource_version(engine), token, remaining))


@_k8s("list_event_for_all_namespaces")
async def _list_all_events(request: Request) -> Response:
    return await _list_events(request, None)


@_k8s("list_namespaced_event")
async def _list_namespaced_events(request: Request) -> Response:
    return await _list_events(request, request.path_params["namespace"])


# -- pod logs ---------------------------------------------------------------------------------------------------------
def _since(request: Request, now: float) -> float | None:
    seconds = _int_param(request, "sinceSeconds", minimum=1)
    if seconds is not None:
        return now - seconds
    raw = request.query_params.get("sinceTime")
    if raw:
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise KubernetesError.bad_request(f"invalid sinceTime {raw!r}: must be RFC 3339") from None
    return None


def _format(line: LogLine, timestamps: bool) -> bytes:
    text = f"{rfc3339_nano(line.timestamp)} {line.message}" if timestamps else line.message
    return (text + "\n").encode()


@_k8s("read_namespaced_pod_log")
async def _pod_log(request: Request) -> Response:
    engine = request.app.state.engine
    pod = pods.find_pod(engine.state, request.path_params["namespace"], request.path_params["name"])
    container = pods.log_container(
        pod, request.query_params.get("container"), _bool_param(request, "previous")
    )
    since = _since(request, engine.clock.now())
    tail = _int_param(request, "tailLines")
    limit_bytes = _int_param(request, "limitBytes", minimum=1)
    timestamps = _bool_param(request, "timestamps")
    lines, start = pods.log_lines(engine.logs, pod, container, since=since, tail=tail)
    if not _bool_param(request, "follow"):
        data = b"".join(_format(line, timestamps) for line in lines[start:])
        return Response(data[:limit_bytes] if limit_bytes else data, media_type="text/plain")
    followed = pods.follow_log(engine.state, engine.logs, pod, container, start)
    return StreamingResponse(_follow(followed, timestamps, limit_bytes), media_type="text/plain")


async def _follow(
    lines: AsyncIterator[LogLine], timestamps: bool, limit_bytes: int | None
) -> AsyncIterator[bytes]:
    """The followed lines as the response's chunks, cut at ``limit_bytes``."""
    sent = 0
    async with contextlib.aclosing(lines):
        async for line in lines:
            chunk = _format(line, timestamps)
            if limit_bytes is not None and sent + len(chunk) > limit_bytes:
                yield chunk[: limit_bytes - sent]
                return
            sent += len(chunk)
            yield chunk


def kubernetes_routes() -> list[Route]:
    ns_pods = "/api/v1/namespaces/{namespace}/pods"
    return [
        *(Route(path, _version, methods=["GET"]) for path in ("/version", "/version/")),
        *(Route(path, _api, methods=["GET"]) for path in ("/api", "/api/")),
        *(Route(path, _api_v1, methods=["GET"]) for path in ("/api/v1", "/api/v1/")),
        *(Route(path, _apis, methods=["GET"]) for path in ("/apis", "/apis/")),
        Route("/api/v1/namespaces", _list_namespaces, methods=["GET"]),
        Route("/api/v1/namespaces/{name}", _read_namespace, methods=["GET"]),
        Route("/api/v1/nodes", _list_nodes, methods=["GET"]),
        Route("/api/v1/nodes/{name}", _read_node, methods=["GET"]),
        Route("/api/v1/pods", _list_all_pods, methods=["GET"]),
        Route("/api/v1/events", _list_all_events, methods=["GET"]),
        Route("/api/v1/namespaces/{namespace}/events", _list_namespaced_events, methods=["GET"]),
        Route(ns_pods, _list_namespaced_pods, methods=["GET"]),
        Route(ns_pods + "/{name}", _read_pod, methods=["GET"]),
        Route(ns_pods + "/{name}", _delete_pod, methods=["DELETE"]),
        Route(ns_pods + "/{name}/log", _pod_log, methods=["GET"]),
        Route("/api/{path:path}", _unknown),
        Route("/apis/{path:path}", _unknown),
    ]
