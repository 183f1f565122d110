"""What the scenario tests on the local stack share: the stack, both sandboxes on free ports,
and the demo tenant registered against them (local/tenants/demo.yaml, URLs rewritten)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

DEMO_TENANT = Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml"


@contextlib.contextmanager
def demo_world(tenant_dir: Path, *, adjust_tenant: Callable[[dict[str, Any]], None] | None = None,
               jst_callbacks: bool = False, fresh: bool = False) -> Iterator[tuple[Any, Any, Any]]:
    """(stack, jst, store): the local stack without its own sandboxes or scheduler, a JST
    sandbox (its pushes go to the stack's API when ``jst_callbacks``), a 店+ sandbox whose
    events go there, and the demo
    tenant stored with both sandboxes' URLs (``adjust_tenant`` may change the document).

    Every moto server in one process shares moto's in-memory backends, so tables and queues
    keep what earlier test modules left. ``fresh`` empties them before (and after) this world,
    as a new `o2o local up` would be."""
    from o2o_bridge.cli import main as o2o
    from o2o_local.jst_sandbox import jst_sandbox_factory
    from o2o_local.pos_sandbox import PosSandbox
    from o2o_local.stack import LocalStack

    with LocalStack(api_port=0, aws_port=0, sandboxes=False, scheduler=False) as stack:
        if fresh:
            _reset_aws(stack)
        api = stack.addresses()["api"]
        callbacks = {"callback_base_url": api} if jst_callbacks else {}
        with jst_sandbox_factory("127.0.0.1", port=0, **callbacks) as jst, PosSandbox(bridge_url=api) as store:
            store.seed_demo()
            doc = yaml.safe_load(DEMO_TENANT.read_text(encoding="utf-8"))
            doc["jushuitan"]["base_url"], doc["pos"]["base_url"] = jst.url, store.base_url
            if adjust_tenant:
                adjust_tenant(doc)
            tenant_file = tenant_dir / "tenant.yaml"
            tenant_file.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
            assert o2o(["tenant", "put", str(tenant_file)]) == 0
            yield stack, jst, store


def _reset_aws(stack: Any) -> None:
    """Empty moto's backends (every table and queue of every stack in this process), then
    create this stack's tables and queues again."""
    import urllib.request

    from o2o_local.bootstrap import bootstrap
    from o2o_local.bridge_runtime import reset_bridge_runtime

    urllib.request.urlopen(urllib.request.Request(f"{stack.endpoint_url}/moto-api/reset", method="POST"),
                           timeout=30).read()
    bootstrap(stack.template, stack.endpoint_url)
    reset_bridge_runtime()


CLOUD_TENANT = Path(__file__).resolve().parents[2] / "local" / "tenants" / "cloud-warehouse.yaml"


@contextlib.contextmanager
def cloud_warehouse_tenant(stack: Any, jst: Any, store: Any, tenant_dir: Path) -> Iterator[Any]:
    """Beside ``demo_world``'s tenant: the demo's cloud-warehouse tenant (local/tenants/cloud-warehouse.yaml,
    10020, ``warehouse: qimen``) against a 奇门 WMS sandbox whose confirmations and reports go to
    the stack's /qimen/callback, its 店+ merchant seeded as the demo seeds it. Yields the WMS sandbox."""
    from o2o_bridge.cli import main as o2o
    from o2o_local.qimen_sandbox import QimenSandbox

    doc = yaml.safe_load(CLOUD_TENANT.read_text(encoding="utf-8"))
    pos_warehouse = str(doc["qimen"]["pos_warehouse_code"])
    store.seed({"merchants": [{"ent_id": doc["ent_id"], "api_key": doc["pos"]["api_key"],
                               "webhook_secret": doc["pos"]["webhook_secret"],
                               "stores": [{"code": s["code"], "name": s["name"]} for s in doc["stores"]],
                               "warehouses": [pos_warehouse]}]})
    wms = QimenSandbox(bridge_url=stack.addresses()["api"])  # the demo's WMS merchant: 10020, WH01, OWNER01
    wms.start()
    try:
        doc["jushuitan"]["base_url"], doc["pos"]["base_url"] = jst.url, store.base_url
        doc["qimen"]["gateway_url"] = wms.gateway_url
        tenant_file = tenant_dir / "cloud-tenant.yaml"
        tenant_file.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        assert o2o(["tenant", "put", str(tenant_file)]) == 0
        yield wms
    finally:
        wms.stop()
