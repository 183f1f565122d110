"""Client ↔ sandbox: the bridge's JstClient / JstApiAdapter against JstSandbox over real HTTP
on 127.0.0.1. The sandbox was written independently of the client (its own sign check), so a
mistake on either side fails here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl

import httpx
import pytest

from o2o_bridge.connectors.jushuitan.api import JstApiAdapter, Limits
from o2o_bridge.connectors.jushuitan.client import FORM, JstClient, JstCredentials
from o2o_bridge.connectors.jushuitan.rate_limit import InMemoryRateLimiter, InMemorySlidingLogLimiter, windows_for
from o2o_bridge.connectors.jushuitan.tokens import InMemoryTokenStore
from o2o_local.jst_sandbox import DEMO, JstSandbox

CREDS = DEMO["credentials"]
ENT_ID = "10010"
MAIN_WMS, STORE_WMS, SHOP = 10000, 10001, 133242


@dataclass
class Wire:
    """What went over the wire: (path, form) per request; hooks run after each response."""

    sent: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    received: list[tuple[str, Any]] = field(default_factory=list)
    after_response: list[Callable[[str, int], None]] = field(default_factory=list)

    def on_request(self, request: httpx.Request) -> None:
        self.sent.append((request.url.path, dict(parse_qsl(request.content.decode("utf-8"), keep_blank_values=True))))

    def on_response(self, response: httpx.Response) -> None:
        path = response.request.url.path
        response.read()
        try:
            self.received.append((path, response.json()))
        except ValueError:
            self.received.append((path, response.text))
        count = sum(1 for p, _ in self.sent if p == path)
        for hook in list(self.after_response):
            hook(path, count)

    def paths(self) -> list[str]:
        return [p for p, _ in self.sent]

    def answers(self, path: str) -> list[Any]:
        return [a for p, a in self.received if p == path]

    def biz(self, path: str) -> list[Any]:
        return [json.loads(f["biz"]) for p, f in self.sent if p == path]


@dataclass
class Harness:
    jst: JstSandbox
    client: JstClient
    api: JstApiAdapter
    store: InMemoryTokenStore
    wire: Wire


@pytest.fixture(scope="session")
def sandbox():
    with JstSandbox("127.0.0.1", port=0) as jst:
        yield jst


@pytest.fixture
def jst(sandbox):
    """The sandbox, reset and seeded with the demo tenant; the sandbox's rate limit is off
    unless a test turns it on."""
    sandbox.reset()
    sandbox.seed_demo()
    sandbox.rate_limit.configure(per_second=5, per_minute=100, enabled=False)
    yield sandbox
    sandbox.faults.reset()
    sandbox.reset()


@pytest.fixture
def make(jst):
    """Build a client + adapter pointed at the sandbox (own httpx client with a short timeout)."""
    opened: list[httpx.Client] = []

    def build(*, app_secret: str = CREDS["app_secret"], access_token: str | None = CREDS["access_token"],
              refresh_token: str | None = CREDS["refresh_token"], timeout: float = 5.0,
              per_second: int = 1000, per_minute: int = 100_000, counting: str = "sliding", margin_ms: int = 50,
              limits: Limits | None = None,
              store: InMemoryTokenStore | None = None, **client_kwargs: Any) -> Harness:
        wire = Wire()
        http = httpx.Client(timeout=httpx.Timeout(timeout, connect=2.0), headers={"Content-Type": FORM},
                            event_hooks={"request": [wire.on_request], "response": [wire.on_response]})
        opened.append(http)
        store = store or InMemoryTokenStore()
        windows = windows_for(per_second, per_minute)
        # Counting as a tenant's rate_limit.counting would choose (sliding by default).
        limiter = (InMemoryRateLimiter(CREDS["app_key"], windows, max_wait_seconds=5.0) if counting == "fixed" else
                   InMemorySlidingLogLimiter(CREDS["app_key"], windows, margin_seconds=margin_ms / 1000,
                                             max_wait_seconds=5.0))
        client = JstClient(
            ENT_ID,
            JstCredentials(base_url=jst.url, app_key=CREDS["app_key"], app_secret=app_secret,
                           access_token=access_token, refresh_token=refresh_token),
            http=http, token_store=store,
            limiter=limiter,
            **client_kwargs,
        )
        return Harness(jst, client, JstApiAdapter(client, limits or Limits()), store, wire)

    yield build
    for http in opened:
        http.close()


@pytest.fixture
def h(make) -> Harness:
    return make()
