"""StoreSystemApi fulfils the StoreSystem port, and the demo tenant's adapter reaches the
sandbox seeded by seed_demo()."""

from __future__ import annotations

import inspect
from pathlib import Path

import yaml

from o2o_bridge.connectors.store import StoreSystemApi
from o2o_bridge.connectors.store import factory
from o2o_bridge.ports import StoreSystem
from o2o_bridge.tenant import parse_tenant

DEMO_TENANT = Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml"


def test_the_adapter_has_every_method_of_the_port_with_the_same_parameters():
    port_methods = {n for n, v in vars(StoreSystem).items() if callable(v) and not n.startswith("_")}
    assert len(port_methods) == 14
    for name in port_methods:
        port = inspect.signature(getattr(StoreSystem, name))
        adapter = inspect.signature(getattr(StoreSystemApi, name))
        assert list(port.parameters) == list(adapter.parameters), name
        for parameter in port.parameters.values():
            assert adapter.parameters[parameter.name].kind == parameter.kind, (name, parameter.name)


def test_the_demo_tenant_reaches_the_demo_sandbox(pos):
    data = yaml.safe_load(DEMO_TENANT.read_text(encoding="utf-8"))
    assert data["pos"]["base_url"] == "http://127.0.0.1:8802/api"
    data["pos"]["base_url"] = pos.base_url  # the test sandbox listens on a free port
    tenant = parse_tenant(data)
    factory.forget()
    try:
        store = factory.store_system_for_tenant(tenant)
        assert factory.store_system_for_tenant(tenant) is store  # built once per container
        assert store.client.ent_id == "10010" and store.client.base_url == pos.base_url
        stock = store.store_stock("S002", ["SKU-BLUE-M"])
        assert [(i.sku_id, i.qty) for i in stock.items] == [("SKU-BLUE-M", 6)]
    finally:
        factory.forget()


def test_the_local_stack_slot(monkeypatch):
    from o2o_local.pos_sandbox import PosSandbox

    monkeypatch.setenv("O2O_POS_SANDBOX_PORT", "0")  # 8802 may be taken by a running stack
    monkeypatch.setenv("O2O_POS_BRIDGE_URL", "http://127.0.0.1:3999")
    sandbox = PosSandbox.for_local_stack("127.0.0.1")
    assert sandbox.environment() == {} and sandbox.status().endswith("stopped")
    try:
        address = sandbox.start()
        assert address == sandbox.base_url and address.endswith("/api")
        assert sandbox.environment() == {"O2O_POS_SANDBOX_URL": sandbox.url, "O2O_POS_BASE_URL": sandbox.base_url}
        assert "http://127.0.0.1:3999" in sandbox.status()
        assert list(sandbox.state.merchants) == ["10010"]
    finally:
        sandbox.stop()
    sandbox.stop()  # twice is harmless
