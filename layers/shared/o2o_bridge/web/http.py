"""The routing of the bridge's HTTP functions (API Gateway HTTP API, payload format 2.0).

Each HTTP function serves one or two fixed routes (template.yaml), answers every error in its
caller's own format (answers.py, qimen_callback.py) and needs nothing else of a web framework.
It did this with Powertools' ``APIGatewayHttpResolver``, and this is the part of it the bridge
used, with the same names and the same answers: ``get``/``post`` routes with per-route
middlewares ``(app, next_middleware) -> Response``, ``exception_handler`` (looked up along the
exception's classes), ``not_found``, ``current_event`` / ``lambda_context`` / ``context``
(``append_context``, cleared after each request), and a route's ``dict`` answered as compact
JSON. Why not the resolver itself: ``aws_lambda_powertools.event_handler``'s package imports
every resolver it has (AppSync with asyncio, Bedrock agents, VPC Lattice, ...) and the event
data classes of every event source: 127 modules, 60-80 ms CPU of each HTTP function's init phase; its
``api_gateway`` module cannot be imported without the package.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Callable, Iterator, Mapping

Middleware = Callable[["HttpResolver", Callable[["HttpResolver"], "Response"]], "Response"]


class Response:
    """An answer: status, content type, body (text, bytes, or anything a route gives as JSON)."""

    def __init__(self, status_code: int, content_type: str | None = None, body: Any = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.status_code = int(status_code)
        self.body = body
        self.headers = dict(headers or {})
        if content_type:
            self.headers.setdefault("Content-Type", content_type)

    def to_http_api(self) -> dict[str, Any]:
        body, encoded = self.body, False
        if isinstance(body, (bytes, bytearray)):
            body, encoded = base64.b64encode(body).decode("ascii"), True
        elif body is not None and not isinstance(body, str):
            body = json.dumps(body, separators=(",", ":"))
        return {"statusCode": self.status_code, "headers": dict(self.headers), "cookies": [], "body": body,
                "isBase64Encoded": encoded}


class Headers(Mapping[str, str]):
    """A request's headers, read in any case (HTTP API gives them lower-cased)."""

    def __init__(self, raw: Mapping[str, str] | None) -> None:
        self._raw = {str(name).lower(): value for name, value in (raw or {}).items()}

    def __getitem__(self, name: str) -> str:
        return self._raw[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


class HttpEvent(dict):
    """The request as the routes read it: the raw event (``event.get("rawQueryString")``), and
    the few properties the bridge reads, named as Powertools' ``APIGatewayProxyEventV2`` names them."""

    @property
    def body(self) -> str | None:
        return self.get("body")

    @property
    def is_base64_encoded(self) -> bool:
        return bool(self.get("isBase64Encoded"))

    @property
    def headers(self) -> Headers:
        return Headers(self.get("headers"))

    @property
    def query_string_parameters(self) -> dict[str, str]:
        return self.get("queryStringParameters") or {}

    @property
    def http_method(self) -> str:
        return ((self.get("requestContext") or {}).get("http") or {}).get("method", "")

    @property
    def path(self) -> str:
        """The route's path: a named stage's prefix is not part of it (``$default`` has none)."""
        raw = self.get("rawPath") or "/"
        stage = (self.get("requestContext") or {}).get("stage", "$default")
        if stage and stage != "$default" and raw.startswith(f"/{stage}"):
            return raw[len(stage) + 1:] or "/"
        return raw


class NotFoundError(Exception):
    """No route for the request's method and path (the ``not_found`` handler gets it)."""


class HttpResolver:
    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], tuple[Callable[[], Any], list[Middleware]]] = {}
        self._handlers: dict[type, Callable[[Any], Any]] = {}
        self.current_event: HttpEvent = HttpEvent()
        self.lambda_context: Any = None
        self.context: dict[str, Any] = {}

    def route(self, method: str, path: str, middlewares: list[Middleware] | None = None):
        def register(fn: Callable[[], Any]) -> Callable[[], Any]:
            key = (method.upper(), path)
            if key in self._routes:
                raise ValueError(f"route {method} {path} is registered twice")
            self._routes[key] = (fn, list(middlewares or []))
            return fn

        return register

    def get(self, path: str, middlewares: list[Middleware] | None = None):
        return self.route("GET", path, middlewares)

    def post(self, path: str, middlewares: list[Middleware] | None = None):
        return self.route("POST", path, middlewares)

    def exception_handler(self, exception: type):
        def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
            self._handlers[exception] = fn
            return fn

        return register

    def not_found(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return self.exception_handler(NotFoundError)(fn)

    def append_context(self, **values: Any) -> None:
        self.context.update(values)

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        self.current_event, self.lambda_context = HttpEvent(event), context
        try:
            return self._answer().to_http_api()
        finally:
            self.context = {}  # nothing of one request reaches the next

    def _answer(self) -> Response:
        try:
            method, path = self.current_event.http_method.upper(), self.current_event.path
            route = self._routes.get((method, path))
            if route is None:
                raise NotFoundError(f"{method} {path}")
            fn, middlewares = route
            return self._through(middlewares, fn)(self)
        except Exception as error:  # noqa: BLE001 - a registered handler answers it, else it goes on up
            for kind in type(error).__mro__:
                handler = self._handlers.get(kind)
                if handler is not None:
                    return _to_response(handler(error))
            if isinstance(error, NotFoundError):
                return Response(404, "application/json", {"statusCode": 404, "message": "Not found"})
            raise

    @staticmethod
    def _through(middlewares: list[Middleware], fn: Callable[[], Any]) -> Callable[["HttpResolver"], Response]:
        def call(app: "HttpResolver") -> Response:
            return _to_response(fn())

        for middleware in reversed(middlewares):
            call = (lambda middleware, after: lambda app: middleware(app, after))(middleware, call)
        return call


def _to_response(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple) and len(result) == 2:
        return Response(result[1], "application/json", result[0])
    return Response(200, "application/json", result)
