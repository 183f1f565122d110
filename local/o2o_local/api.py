"""The local HTTP API: every HttpApi route of the template, handlers called in process."""

from __future__ import annotations

import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import lambda_runtime
from .apigw_v2 import (
    INTERNAL_ERROR, NOT_FOUND, HttpResponse, MalformedResponse, build_event, json_response, map_result,
)
from .routes import RouteTable
from .template import FunctionSpec, Template

__all__ = ["ApiEmulator"]

Invoke = Callable[[FunctionSpec, Any], Any]
Log = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class ApiEmulator:
    """``ApiEmulator(template, port=0).start()``; ``url``; ``stop()``. Port 0 picks a free port."""

    def __init__(self, template: Template, host: str = "127.0.0.1", port: int = 3000, *,
                 invoke: Invoke | None = None, log: Log | None = _stderr):
        self.template = template
        self.host = host
        self.port = port
        self.routes = RouteTable(template.functions)
        self.invoke = invoke or lambda_runtime.invoke
        self.log = log or (lambda line: None)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        if self._server is None:
            self._server = ThreadingHTTPServer((self.host, self.port), _handler_class(self))
            self._server.daemon_threads = True
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="o2o-local-api", daemon=True)
            self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> ApiEmulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- one request ---------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes,
               client_ip: str, protocol: str) -> tuple[HttpResponse, str]:
        raw_path, _, raw_query = target.partition("?")
        request_id = uuid.uuid4().hex[:16]
        match = self.routes.match(method, raw_path)
        if match is None:
            return json_response(404, NOT_FOUND), f"{method} {raw_path} -> 404 no route"
        event = build_event(method=method, raw_path=raw_path, raw_query=raw_query, headers=headers, body=body,
                            match=match, source_ip=client_ip, protocol=protocol, request_id=request_id,
                            domain_name=_host(headers) or f"{self.host}:{self.port}")
        name = match.function.name
        try:
            result = self.invoke(match.function, event)
        except Exception:  # noqa: BLE001 - API Gateway turns any function error into a 500
            self.log(f"[api] {method} {raw_path} -> {name} raised:\n{traceback.format_exc().rstrip()}")
            return json_response(500, INTERNAL_ERROR), f"{method} {raw_path} -> {name} 500 (handler error)"
        try:
            response = map_result(result)
        except MalformedResponse as error:
            self.log(f"[api] {method} {raw_path} -> {name}: malformed response: {error}")
            return json_response(500, INTERNAL_ERROR), f"{method} {raw_path} -> {name} 500 (malformed response)"
        response.headers.append(("apigw-requestid", request_id))
        return response, f"{method} {raw_path} -> {name} {response.status}"


def _host(headers: list[tuple[str, str]]) -> str | None:
    return next((value for name, value in headers if name.lower() == "host"), None)


def _handler_class(emulator: ApiEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "o2o-local-api"

        def _serve(self) -> None:
            started = time.monotonic()
            body = self._read_body()
            response, summary = emulator.handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0],
                self.request_version)
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("content-length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            emulator.log(f"[api] {summary} ({(time.monotonic() - started) * 1000:.0f} ms)")

        def _read_body(self) -> bytes:
            if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # one summary line per request is logged by _serve

    return Handler
