"""HTTP API route matching: which route (and function) answers a method and path.

Like API Gateway HTTP APIs: the most specific route wins (literal segments over ``{param}``
over a greedy ``{proxy+}``), a method-specific route over ``ANY``, ``$default`` last. A
path that only matches with another method is not found (404), as in API Gateway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .template import FunctionSpec, Route

_PARAM = re.compile(r"^\{([A-Za-z0-9_.\-]+)(\+?)\}$")


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    function: FunctionSpec
    path_parameters: dict[str, str]


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    function: FunctionSpec
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    specificity: tuple[int, ...]


def _compile(route: Route, function: FunctionSpec) -> _CompiledRoute:
    if route.path == "$default":
        return _CompiledRoute(route, function, re.compile(r"^/.*$"), (), (-1, 0, 0, 0))
    parts, names, literals, params, greedy = [], [], 0, 0, 0
    for segment in route.path.strip("/").split("/") if route.path != "/" else []:
        match = _PARAM.match(segment)
        if not match:
            parts.append(re.escape(segment))
            literals += 1
        elif match.group(2):
            parts.append(r"(.+)")
            names.append(match.group(1))
            greedy += 1
        else:
            parts.append(r"([^/]+)")
            names.append(match.group(1))
            params += 1
    pattern = re.compile("^/" + "/".join(parts) + "/?$")
    specificity = (0 if greedy else 1, literals, -params, 1 if route.method != "ANY" else 0)
    return _CompiledRoute(route, function, pattern, tuple(names), specificity)


class RouteTable:
    def __init__(self, functions: dict[str, FunctionSpec] | Any):
        compiled = [_compile(route, spec) for spec in dict(functions).values() for route in spec.routes]
        self._routes = sorted(compiled, key=lambda entry: entry.specificity, reverse=True)

    @property
    def routes(self) -> list[tuple[Route, FunctionSpec]]:
        return [(entry.route, entry.function) for entry in self._routes]

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        method = method.upper()
        for entry in self._routes:
            if entry.route.method not in (method, "ANY"):
                continue
            found = entry.pattern.match(raw_path)
            if found:
                values = {name: unquote(value) for name, value in zip(entry.names, found.groups())}
                return RouteMatch(entry.route, entry.function, values)
        return None
