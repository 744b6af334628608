"""Refuse the requests a web page can make a browser send to the engine.

The engine runs commands. Any page open in the developer's browser can send requests to
``http://127.0.0.1:4566`` (a form, ``fetch(..., {mode: "no-cors"})``, an image), and a page on a name
that its owner re-points at 127.0.0.1 (DNS rebinding) can also read the answers. SDKs and ``kubectl`` never
send what such pages send, so :class:`BrowserGuard` refuses, before any route runs:

============================  ======================================================  ===============
request                        rule                                                   answer
============================  ======================================================  ===============
any route                      ``Host`` must be an IP address, ``localhost``, or a     403
                               name given with ``--allowed-host`` (DNS rebinding)
POST, PUT, PATCH, DELETE       an ``Origin`` other than the engine's own                403
                               (``scheme://<Host header>``), or ``Sec-Fetch-Site``
                               ``cross-site``/``same-site``
POST, PUT, PATCH               a ``Content-Type`` other than the one its protocol      415
                               uses: ``application/json`` (Batch rest-json, admin
                               routes), ``application/x-amz-json-1.1`` (CloudWatch
                               Logs); a browser's "simple" request can only send
                               ``text/plain``, form or multipart bodies
============================  ======================================================  ===============

A name that is not an IP address is the only way rebinding reaches the engine, so IP addresses (any port)
stay allowed: that keeps ``-p 8566:4566`` port maps and ``--allow-remote`` on an address working. The
read-only page (``GET /``) keeps working in a browser opened at the engine's URL.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable, Iterable

from ..errors import AccessDeniedException, EngineError, UnsupportedMediaTypeException
from .asgi_errors import send_error

__all__ = ["BrowserGuard", "LOCAL_HOST_NAMES", "host_name"]

LOCAL_HOST_NAMES = frozenset({"localhost", "localhost.localdomain"})
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_CROSS_SITE = frozenset({"cross-site", "same-site"})
_KUBERNETES_PREFIXES = ("/api", "/apis", "/version")


def host_name(host_header: str) -> str:
    """The name or address of a ``Host`` header, without its port or IPv6 brackets, lower-cased."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _content_types_for(path: str) -> tuple[str, ...]:
    if path == "/":
        return ("application/x-amz-json-1.1",)
    return ("application/json",)


class BrowserGuard:
    """ASGI middleware: refuse browser-driven requests (see the module docstring for the table).

    :param app: the ASGI app to protect.
    :param allowed_hosts: names besides IP addresses and ``localhost`` that ``Host`` may carry (the bound
        host when it is a name, and the operator's ``--allowed-host`` names, e.g. a compose service name).
    """

    def __init__(self, app: Any, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed_hosts = LOCAL_HOST_NAMES | {host_name(h) for h in allowed_hosts if h}

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        await _send_refusal(send, scope["path"], refusal)

    def refusal(self, scope: dict) -> EngineError | None:
        """The error to answer when the request must be refused, else ``None``."""
        headers = _headers(scope)
        host = headers.get("host")
        if host is not None and not self.host_allowed(host):
            return AccessDeniedException(
                f"Host {host!r} is not an address this engine serves: the engine answers IP addresses, localhost "
                "and the names given with --allowed-host only (a page on another name could be re-pointed at "
                "this machine: DNS rebinding)."
            )
        method = scope["method"].upper()
        if method not in _STATE_CHANGING:
            return None
        origin = headers.get("origin")
        if origin is not None:
            own = f"{scope.get('scheme', 'http')}://{host or ''}".lower()
            if origin.strip().lower() != own:
                return AccessDeniedException(
                    f"Origin {origin!r} is not this engine's own ({own!r}): a {method} from a web page of another "
                    "origin is refused, as it could run commands on this machine."
                )
        fetch_site = headers.get("sec-fetch-site", "").strip().lower()
        if fetch_site in _CROSS_SITE:
            return AccessDeniedException(
                f"Sec-Fetch-Site {fetch_site!r}: a {method} sent by a browser from another site is refused."
            )
        if method in _WITH_BODY:
            allowed = _content_types_for(scope["path"])
            content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if content_type not in allowed:
                return UnsupportedMediaTypeException(
                    f"Content-Type {content_type or '(none)'!r} is not accepted on {method} {scope['path']}: "
                    f"send {' or '.join(allowed)}, as the AWS SDKs do."
                )
        return None

    def host_allowed(self, host_header: str) -> bool:
        name = host_name(host_header)
        return name in self.allowed_hosts or _is_ip_address(name)


def _headers(scope: dict) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in scope["headers"]:
        values.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return values


async def _send_refusal(send: Callable, path: str, error: EngineError) -> None:
    if not path.startswith(_KUBERNETES_PREFIXES):
        await send_error(send, error)
        return
    reason = "Forbidden" if error.status_code == 403 else "UnsupportedMediaType"
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": error.message, "reason": reason, "code": error.status_code}
    await send_error(send, error, status)
