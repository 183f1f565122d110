"""Test doubles for 旺店通: an httpx transport that checks every request like the 企业版
gateway (form, sign, 5-minute timestamp window) and routes by interface name."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Callable
from urllib.parse import parse_qsl

import httpx

from o2o_bridge.connectors.pacing import InMemoryRateLimiter, Window
from o2o_bridge.connectors.wangdiantong.api import WdtApi
from o2o_bridge.connectors.wangdiantong.client import WdtClient, WdtCredentials
from o2o_bridge.connectors.wangdiantong.signing import sign

SID = "sid-test"
APPKEY = "appkey-test"
APPSECRET = "wdt-s3cr3t-value"


def ok(**fields: Any) -> dict[str, Any]:
    return {"code": 0, "message": "ok", **fields}


@dataclass
class Call:
    api: str
    form: dict[str, str]

    def json(self, name: str) -> Any:
        return json.loads(self.form[name])


@dataclass
class FakeWdt:
    routes: dict[str, Callable[[Call], Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    server_time: Callable[[], float] | None = None  # None: the client's clock is right

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
        form = dict(parse_qsl(request.content.decode("utf-8"), keep_blank_values=True))
        call = Call(request.url.path.rsplit("/", 1)[-1], form)
        self.calls.append(call)
        now = self.server_time() if self.server_time else None
        headers = {"Date": formatdate(now, usegmt=True)} if now is not None else {}
        if form.get("sign") != sign(form, APPSECRET) or form.get("sid") != SID or form.get("appkey") != APPKEY:
            return httpx.Response(200, json={"code": 1090, "message": "签名错误"}, headers=headers)
        if now is not None and abs(int(form["timestamp"]) - now) > 300:
            return httpx.Response(200, json={"code": 1110, "message": "时间戳超过允许范围"}, headers=headers)
        answer = self.routes[call.api](call)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer, headers=headers)

    def calls_to(self, api: str) -> list[Call]:
        return [c for c in self.calls if c.api == api]


def make_client(gateway: FakeWdt, *, clock: Callable[[], float] | None = None, **kwargs: Any) -> WdtClient:
    http = httpx.Client(transport=httpx.MockTransport(gateway))
    limiter = InMemoryRateLimiter("test", [Window(1, 10_000)])
    return WdtClient(WdtCredentials("https://wdt.test/openapi2", SID, APPKEY, APPSECRET), http=http,
                     limiter=limiter, clock=clock or (lambda: 1_700_000_000.0), **kwargs)


def make_api(gateway: FakeWdt, **kwargs: Any) -> WdtApi:
    limits = kwargs.pop("limits", None)
    client = make_client(gateway, **kwargs)
    return WdtApi(client, limits) if limits else WdtApi(client)
