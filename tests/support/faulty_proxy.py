"""A loopback HTTP proxy in front of the engine that fails chosen requests *after* the engine processed them.

The engine's own fault injection (``server_error_rate``) answers before the handler runs, so it cannot show
the dangerous case: the job was created but the client saw an error. This proxy forwards the request, then
drops the connection or answers 503 instead of passing the engine's answer on, as a load balancer or a
broken network would.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

__all__ = ["FaultyProxy", "faulty_proxy"]

_HOP_HEADERS = ("content-length", "transfer-encoding", "connection", "date", "server")


class FaultyProxy:
    """Forwards every request to ``target``; the next ``failures[op]`` requests of operation ``op`` (lower case, the
    path ``/v1/<op>``) are processed by the engine and then answered with ``fault`` (``"drop"`` or ``"503"``).

    :ivar forwarded: How many requests of each operation reached the engine.
    """

    def __init__(self, target: str) -> None:
        self.target = urllib.parse.urlsplit(target)
        self.failures: Counter[str] = Counter()
        self.fault = "drop"
        self.forwarded: Counter[str] = Counter()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self._forward("POST")

            def do_GET(self) -> None:
                self._forward("GET")

            def _forward(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                operation = self.path.split("?", 1)[0].rsplit("/", 1)[-1].lower()
                upstream = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request(method, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                payload = answer.read()
                upstream.close()
                with proxy._lock:
                    proxy.forwarded[operation] += 1
                    fail = proxy.failures[operation] > 0
                    if fail:
                        proxy.failures[operation] -= 1
                if fail and proxy.fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fail:
                    payload = b'{"message": "Service Unavailable"}'
                    self.send_response(503)
                    self.send_header("x-amzn-ErrorType", "ServiceUnavailableException")
                    self.send_header("Content-Type", "application/json")
                else:
                    self.send_response(answer.status)
                    for key, value in answer.getheaders():
                        if key.lower() not in _HOP_HEADERS:
                            self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@contextlib.contextmanager
def faulty_proxy(target: str) -> Iterator[FaultyProxy]:
    """A running :class:`FaultyProxy` in front of ``target``, stopped on exit."""
    proxy = FaultyProxy(target)
    thread = threading.Thread(target=proxy.server.serve_forever, name="faulty-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()
        thread.join(timeout=10)
