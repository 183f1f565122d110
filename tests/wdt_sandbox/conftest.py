"""A started 旺店通 sandbox with the demo seed, and the bridge's own client pointed at it."""

from __future__ import annotations

import pytest

from o2o_bridge.connectors.pacing import InMemoryRateLimiter, Window
from o2o_bridge.connectors.wangdiantong.api import WdtApi
from o2o_bridge.connectors.wangdiantong.client import WdtClient, WdtCredentials
from o2o_local.wdt_sandbox import WdtSandbox


@pytest.fixture
def sandbox():
    with WdtSandbox() as wdt:
        wdt.seed_demo()
        wdt.rate_limit.configure(enabled=False)  # its own test turns it on
        yield wdt


def client_for(sandbox, **kwargs) -> WdtClient:
    credentials = WdtCredentials(sandbox.base_url, "demo-sid", kwargs.pop("appkey", "demo-wdt-appkey"),
                                 kwargs.pop("appsecret", "demo-wdt-appsecret"))
    kwargs.setdefault("limiter", InMemoryRateLimiter("t", [Window(1, 10_000)]))
    return WdtClient(credentials, **kwargs)


@pytest.fixture
def api(sandbox) -> WdtApi:
    return WdtApi(client_for(sandbox))
