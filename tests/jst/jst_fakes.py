"""Test doubles for JST: an httpx transport that checks every request like the gateway,
and an in-memory JstApi for the doctor."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl

import httpx

from o2o_bridge.connectors.jushuitan.client import JstClient, JstCredentials
from o2o_bridge.connectors.jushuitan.rate_limit import InMemoryRateLimiter, Window
from o2o_bridge.connectors.jushuitan.signing import openweb_sign
from o2o_bridge.connectors.jushuitan.tokens import InMemoryTokenStore

APP_KEY = "test-app-key"
APP_SECRET = "s3cr3t-app-secret-value"
ACCESS = "access-token-0001"
REFRESH = "refresh-token-0001"


def ok(data: Any = None) -> dict[str, Any]:
    return {"code": 0, "msg": "执行成功", "data": data}


@dataclass
class Call:
    path: str
    params: dict[str, str]

    @property
    def biz(self) -> Any:
        return json.loads(self.params["biz"])


@dataclass
class FakeGateway:
    """Routes by path; checks the sign of every request with the app secret."""

    routes: dict[str, Callable[[Call], Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=lambda: {ACCESS})
    issued: int = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
        params = dict(parse_qsl(request.content.decode("utf-8"), keep_blank_values=True))
        call = Call(request.url.path, params)
        self.calls.append(call)
        if params.get("sign") != openweb_sign(params, APP_SECRET):
            return httpx.Response(200, json={"code": 10, "msg": "验证失败！无效签名"})
        if call.path.startswith("/openWeb/auth/"):
            return self._token(call)
        assert params["version"] == "2" and params["charset"] == "utf-8" and params["app_key"] == APP_KEY
        if params["access_token"] not in self.valid_tokens:
            return httpx.Response(200, json={"code": 100, "msg": "无效的access_token或access_token已过期"})
        answer = self.routes[call.path](call)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    def _token(self, call: Call) -> httpx.Response:
        handler = self.routes.get(call.path)
        if handler is not None:
            return httpx.Response(200, json=handler(call))
        if call.path.endswith("refreshToken") and call.params.get("refresh_token") != REFRESH:
            return httpx.Response(200, json={"code": 100, "msg": "refresh_token 无效"})
        self.issued += 1
        token = f"access-token-{self.issued + 1:04d}"
        self.valid_tokens = {token}
        return httpx.Response(200, json=ok({"access_token": token, "expires_in": 30 * 86400,
                                            "refresh_token": REFRESH, "scope": "all"}))

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]


def make_client(gateway: Callable[[httpx.Request], httpx.Response], *, store=None, clock=None, limiter=None,
                access_token: str | None = ACCESS, **kwargs) -> JstClient:
    http = httpx.Client(transport=httpx.MockTransport(gateway), timeout=httpx.Timeout(2.0))
    extra = {"clock": clock} if clock else {}
    return JstClient(
        "E1",
        JstCredentials("https://jst.test", APP_KEY, APP_SECRET, access_token, REFRESH),
        http=http,
        token_store=store if store is not None else InMemoryTokenStore(),
        limiter=limiter or InMemoryRateLimiter(APP_KEY, [Window(1, 10_000)]),
        **extra,
        **kwargs,
    )
