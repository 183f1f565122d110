"""W1–W5 flows over in-memory state (tests/fakes.py) and the real 旺店通 port, client and
sandbox: what a flow books is what the sandbox ERP holds."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from fakes import fake_context
from o2o_bridge.connectors.store import PosClient, PosCredentials, StoreSystemApi
from o2o_bridge.connectors.pacing import InMemoryRateLimiter, Window
from o2o_bridge.connectors.wangdiantong.api import WdtApi
from o2o_bridge.connectors.wangdiantong.client import WdtClient, WdtCredentials
from o2o_bridge.connectors.wangdiantong.erp import WdtErp
from o2o_bridge.connectors.wangdiantong.factory import limits_of
from o2o_bridge.tenant import parse_tenant
from o2o_local.pos_sandbox import PosSandbox
from o2o_local.pos_sandbox.demo import WDT_DEMO_API_KEY, WDT_DEMO_ENT_ID, wdt_demo_merchant
from o2o_local.wdt_sandbox import WdtSandbox

WDT_DEMO = Path(__file__).resolve().parents[2] / "local" / "tenants" / "wdt-demo.yaml"


@pytest.fixture
def sandbox():
    with WdtSandbox() as wdt:
        wdt.seed_demo()
        wdt.rate_limit.configure(enabled=False)
        yield wdt


def tenant_for(sandbox, **changes):
    doc = yaml.safe_load(WDT_DEMO.read_text(encoding="utf-8"))
    doc["wangdiantong"]["base_url"] = sandbox.base_url
    for key, value in changes.items():
        doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
    return parse_tenant(doc)


def erp_for(sandbox, tenant) -> WdtErp:
    section = tenant.wangdiantong
    client = WdtClient(WdtCredentials(sandbox.base_url, section.sid, section.appkey,
                                      section.appsecret.get_secret_value()),
                       limiter=InMemoryRateLimiter("t", [Window(1, 10_000)]))
    return WdtErp(WdtApi(client, limits_of(section)), tenant)


@pytest.fixture
def tenant(sandbox):
    return tenant_for(sandbox)


@pytest.fixture(scope="session")
def pos_sandbox():
    with PosSandbox() as running:
        yield running


@pytest.fixture
def pos(pos_sandbox):
    """The 店+ sandbox holding only the 旺店通 demo merchant (10030)."""
    pos_sandbox.reset()
    pos_sandbox.seed({"merchants": [wdt_demo_merchant()]})
    return pos_sandbox


def store_for(pos_sandbox) -> StoreSystemApi:
    http = httpx.Client(timeout=httpx.Timeout(5.0, connect=2.0))
    return StoreSystemApi(PosClient(PosCredentials(pos_sandbox.base_url, WDT_DEMO_ENT_ID, WDT_DEMO_API_KEY), http=http))


def context_for(sandbox, pos_sandbox, tenant, **overrides):
    """A 旺店通 tenant's context as a Lambda builds it: the 旺店通 adapter over the sandbox, the
    store sandbox, and (``warehouse: erp``) a warehouse that holds no stock the stores show."""
    from o2o_bridge.wiring import NotThisErp

    overrides.setdefault("warehouse", NotThisErp(tenant, "warehouse"))
    return fake_context(tenant, erp=erp_for(sandbox, tenant), store=store_for(pos_sandbox), **overrides)


@pytest.fixture
def ctx(sandbox, pos, tenant):
    return context_for(sandbox, pos, tenant)
