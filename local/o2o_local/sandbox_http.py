"""What every sandbox of the local stack shares (JST, 店+, 旺店通, 奇门): serving HTTP on
127.0.0.1 from a stdlib ThreadingHTTPServer in a daemon thread, answering JSON, the admin
routes every scripted sandbox has (state, call log, faults, rate limit, clock, reset), and the
``python -m o2o_local.<name>_sandbox`` runner. Each sandbox keeps only what its system does.

    class MySandbox(SandboxServer):
        name = "My sandbox"

        def handler_class(self):
            return MyHandler            # a JsonHandler; self.server.sandbox is the sandbox
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

__all__ = ["ADMIN_PREFIX", "JsonHandler", "SandboxServer", "ScriptedSandbox", "admin_answer", "runner_arguments",
           "serve_until_stopped"]

ADMIN_PREFIX = "/__admin__/"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: Any


class SandboxServer:
    """A sandbox's lifecycle, also the local stack's ``Sandbox`` protocol (sandboxes.py): start
    (port 0 takes a free port), stop (releases calls hanging in a timeout fault), status, and
    use as a context manager. A subclass names itself, gives its request handler, and says
    what ``start`` returns (``address``: the URL a tenant's settings point at)."""

    name: str
    host: str
    port: int
    _server: _Server | None = None
    _thread: threading.Thread | None = None

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._server = self._thread = None
        self._stopping = threading.Event()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError(f"{type(self).__name__} names no request handler")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        """What ``start`` returns and ``status`` shows."""
        return self.url

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> str:
        if self._server is None:
            self._stopping.clear()
            self._server = _Server((self.host, self.port), self.handler_class())
            self._server.sandbox = self
            self.port = self._server.server_address[1]
            slug = type(self).__name__.removesuffix("Sandbox").lower() or "sandbox"
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"{slug}-sandbox-{self.port}", daemon=True)
            self._thread.start()
        return self.address

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def status(self) -> str:
        return f"{self.name}: {self.address}{self.status_detail()}" if self.running else f"{self.name}: stopped"

    def status_detail(self) -> str:
        """More for the status line of a running sandbox (its admin URL, where it calls back)."""
        return ""

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class JsonHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, quiet (the sandboxes keep their own call logs), each answer in
    one segment (no Nagle / delayed-ACK stall of ~40 ms a call)."""

    server: _Server
    protocol_version = "HTTP/1.1"
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    @property
    def sandbox(self) -> Any:
        return self.server.sandbox

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_body(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, json.dumps(body, ensure_ascii=False, default=str).encode("utf-8"),
                       "application/json; charset=utf-8", headers)

    def admin_body(self, raw: bytes) -> dict[str, Any] | None:
        """An admin call's JSON body ({} when empty); None after answering 400 to one that is not JSON."""
        try:
            return json.loads(raw) if raw.strip() else {}
        except ValueError:
            self.send_json(400, {"error": "body is not JSON"})
            return None

    # (sandbox, method, path, query, body) -> (status, body): a scripted sandbox's admin.handle
    admin_routes: Callable[..., tuple[int, Any]] | None = None

    def answered_admin(self, url: Any, raw: bytes | None = None) -> bool:
        """Answer a call under /__admin__/ with ``admin_routes`` (a GET has no ``raw`` body);
        False when ``url`` is not an admin one."""
        if self.admin_routes is None or not url.path.startswith(ADMIN_PREFIX):
            return False
        query = dict(urllib.parse.parse_qsl(url.query))
        payload = None if raw is None else self.admin_body(raw)
        if raw is None or payload is not None:
            self.send_json(*type(self).admin_routes(self.sandbox, self.command, url.path, query, payload))
        return True


# --- a scripted sandbox: faults, rate limit, call log, clock ------------------------------------------


class ScriptedSandbox(SandboxServer):
    """A sandbox over a ``state`` (seed, configure, snapshot, a call log, a clock offset) with a
    fault injector and a rate limiter (jst_sandbox/faults.py): the JST and 旺店通 sandboxes.
    ``CALL_KEY`` names the call log's field ``calls(...)`` filters on."""

    CALL_KEY = "path"
    state: Any
    faults: Any
    rate_limit: Any

    def reset(self) -> None:
        """Empty the state and the call log; faults off; rate-limit counters cleared."""
        self.state.reset()
        self.faults.reset()
        self.rate_limit.reset()

    def seed(self, **data: Any) -> dict:
        return self.state.seed(**data)

    def configure(self, **settings: Any) -> dict:
        return self.state.configure(**settings).to_dict()

    def calls(self, which: str | None = None) -> list[dict]:
        with self.state.lock:
            return [dict(c) for c in self.state.calls if which is None or c[self.CALL_KEY] == which]

    def clear_calls(self) -> None:
        with self.state.lock:
            self.state.calls.clear()

    def advance_clock(self, seconds: float) -> None:
        with self.state.lock:
            self.state.clock_offset += seconds


Routes = Callable[[Any, str, dict], Any]


def admin_answer(sandbox: ScriptedSandbox, method: str, path: str, query: dict, body: Any, *,
                 get: Routes, post: Routes) -> tuple[int, Any]:
    """(status, body) of an admin call under /__admin__/: the routes every scripted sandbox
    has, then the sandbox's own ``get`` / ``post`` (which raise LookupError for a route they
    do not know). An unknown route or object is 404, a bad value 400."""
    route = path[len(ADMIN_PREFIX):].strip("/")
    try:
        if method == "GET":
            return 200, _common_get(sandbox, route, query, get)
        if not isinstance(body, dict):
            return 400, {"error": "body must be a JSON object"}
        return 200, _common_post(sandbox, route, dict(body), post)
    except LookupError as exc:
        return 404, {"error": str(exc)}
    except (ValueError, TypeError) as exc:
        return 400, {"error": str(exc)}


def _common_get(sb: ScriptedSandbox, route: str, query: dict, own: Routes) -> Any:
    if route == "state":
        return sb.state.snapshot(query.get("collection"))
    if route.startswith("state/"):
        return sb.state.snapshot(route[len("state/"):])
    if route == "calls":
        return sb.calls(query.get(sb.CALL_KEY))
    if route == "faults":
        return sb.faults.snapshot()
    if route == "rate-limit":
        return sb.rate_limit.snapshot()
    if route == "settings":
        return sb.state.settings.to_dict()
    return own(sb, route, query)


def _common_post(sb: ScriptedSandbox, route: str, body: dict, own: Routes) -> Any:
    if route == "reset":
        sb.reset()
        return {"ok": True}
    if route == "settings":
        return sb.configure(**body)
    if route == "faults":
        if body.pop("reset", False):
            sb.faults.reset()
        script = body.pop("script", [])
        if body:
            sb.faults.configure(**body)
        for fault in script:
            fault = dict(fault)
            sb.faults.add(fault.pop("kind"), **fault)
        return sb.faults.snapshot()
    if route == "rate-limit":
        return sb.rate_limit.configure(**body)
    if route == "calls/clear":
        sb.clear_calls()
        return {"ok": True}
    if route == "clock":
        sb.advance_clock(float(body.get("advance_seconds", 0)))
        return {"now": sb.state.now_str()}
    return own(sb, route, body)


# --- python -m o2o_local.<name>_sandbox ---------------------------------------------------------------


def runner_arguments(module: str, description: str, port: int) -> argparse.ArgumentParser:
    """The options every sandbox runner takes: --host, --port, --no-demo, --no-rate-limit."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--no-demo", action="store_true", help="start empty (no demo tenant seed)")
    parser.add_argument("--no-rate-limit", action="store_true")
    return parser


def serve_until_stopped(sandbox: SandboxServer, banner: str) -> int:
    """Start ``sandbox``, print ``banner`` (with {url}, {address}), serve until SIGTERM or ^C."""
    sandbox.start()
    print(banner.format(url=sandbox.url, address=sandbox.address), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0
