"""The connectors read a poll's page row by row: a row nobody can read becomes a MalformedRow in
its place (the flows park it and go on) instead of failing the page and stopping the poll."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fakes import FakeRecords, FakeTimeline
from o2o_bridge.ports import MalformedRow

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)


class Answers:
    """A client that answers every call with the next canned answer."""

    def __init__(self, *answers):
        self.answers, self.calls = list(answers), []

    def call(self, path, biz=None, **kwargs):
        self.calls.append(path)
        return self.answers.pop(0) if self.answers else {}


def test_jst_inventory_keeps_an_unreadable_row_in_its_place():
    from o2o_bridge.connectors.jushuitan.api import JstApiAdapter

    api = JstApiAdapter(Answers({"inventorys": [
        {"sku_id": "A", "qty": 1, "ts": 10}, {"sku_id": "B", "qty": "lots", "ts": 11}, {"sku_id": "C", "qty": 3, "ts": 12},
    ], "has_next": False}))
    scan = api.scan_inventory(start_ts=0, wms_co_id=10000)
    assert [getattr(r, "sku_id", None) for r in scan.records] == ["A", None, "C"]
    bad = scan.records[1]
    assert isinstance(bad, MalformedRow) and bad.key == "B" and "qty" in bad.problem and scan.next_ts == 12


def test_jst_products_keep_an_unreadable_sku_as_the_record_product_again_reads():
    from o2o_bridge.connectors.jushuitan.api import JstApiAdapter
    from o2o_bridge.connectors.jushuitan.erp import JstErp
    from o2o_bridge.errors import PermanentError
    from o2o_bridge.tenant import parse_tenant
    from test_tenant_model import demo_doc

    api = JstApiAdapter(Answers({"datas": [{"sku_id": "A", "name": "T恤", "modified": "2026-12-02 13:00:00"},
                                           {"sku_id": "B", "name": "T恤", "sale_price": "free"}], "has_next": False}))
    found = JstErp(api, parse_tenant(demo_doc())).changed_products(NOW - timedelta(hours=1), NOW, by_style=False)
    assert found[0].sku_id == "A" and isinstance(found[1], MalformedRow) and found[1].key == "B"
    assert found[1].raw["source"] == "sku" and found[1].raw["row"]["sku_id"] == "B"
    try:
        JstErp(api, parse_tenant(demo_doc())).product_again(found[1].raw)
    except PermanentError as exc:
        assert "still cannot be read" in str(exc)
    else:
        raise AssertionError("an unreadable row must still fail when read again unchanged")


def test_wdt_documents_keep_an_unreadable_row_with_its_direction():
    from pathlib import Path

    import yaml

    from o2o_bridge.connectors.wangdiantong.api import WdtApi
    from o2o_bridge.connectors.wangdiantong.erp import WdtErp
    from o2o_bridge.tenant import parse_tenant

    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "local" / "tenants" / "wdt-demo.yaml").read_text("utf-8"))
    tenant = parse_tenant(doc)
    warehouse = tenant.stores[0].wdt_warehouse
    good = {"stockin_no": "RK1", "warehouse_no": warehouse, "order_type_name": "采购入库", "status": "80",
            "modified": "2026-12-02 13:00:00", "details_list": [{"spec_no": "SKU-1", "num": "2", "goods_name": "T恤"}]}
    bad = {"warehouse_no": warehouse, "details_list": "?"}
    api = WdtApi(Answers({"total_count": 2, "stockin_list": [good, bad]}, {"total_count": 0, "stockout_list": []}))
    erp = WdtErp(api, tenant)
    found = erp.documents(NOW - timedelta(minutes=10), NOW)
    [unreadable] = [d for d in found if isinstance(d, MalformedRow)]
    assert unreadable.raw["direction"] == "in" and unreadable.raw["row"] == bad
    assert any(getattr(d, "doc_no", None) == "RK1" for d in found)


def _wdt_tenant():
    from pathlib import Path

    import yaml

    from o2o_bridge.tenant import parse_tenant

    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "local" / "tenants" / "wdt-demo.yaml").read_text("utf-8"))
    return parse_tenant(doc)


def test_wdt_stock_changes_keep_an_unreadable_row_of_the_warehouse_in_its_place():
    """W5 / S4e over the Erp port: a stock row 旺店通 lists that cannot be read is parked by its
    spec_no (the pull reads that SKU afresh on replay), never read as 0 nor failing the page."""
    from o2o_bridge.connectors.wangdiantong.api import WdtApi
    from o2o_bridge.connectors.wangdiantong.erp import WdtErp
    from o2o_bridge.errors import PermanentError

    tenant = _wdt_tenant()
    warehouse = tenant.stores[0].wdt_warehouse
    rows = [{"spec_no": "A", "warehouse_no": warehouse, "stock_num": "4", "modified": "2026-12-02 13:00:00"},
            {"spec_no": "B", "warehouse_no": warehouse, "stock_num": "lots", "modified": "2026-12-02 13:00:00"},
            {"spec_no": "C", "warehouse_no": "elsewhere", "stock_num": "oops"}]
    erp = WdtErp(WdtApi(Answers({"total_count": 3, "stocks": rows})), tenant, now=lambda: NOW)
    page = erp.stock_changes(warehouse, None)
    [bad] = [level for level in page.levels if isinstance(level, MalformedRow)]
    assert bad.key == "B" and [getattr(level, "sku_id", None) for level in page.levels] == ["A", None]
    erp = WdtErp(WdtApi(Answers({"total_count": 1, "stocks": [rows[1]]})), tenant, now=lambda: NOW)
    try:
        erp.stock_of(warehouse, ["B"])  # the replay's read, the row still broken
    except PermanentError as exc:
        assert "still cannot be read" in str(exc)
    else:
        raise AssertionError("a reread of a row that still cannot be read must fail loudly")


def test_wdt_goods_row_that_cannot_be_read_stands_in_for_its_specs():
    from o2o_bridge.connectors.wangdiantong.api import WdtApi
    from o2o_bridge.connectors.wangdiantong.erp import WdtErp
    from o2o_bridge.errors import PermanentError

    good = {"goods_no": "G1", "goods_name": "T恤", "modified": "2026-12-02 13:00:00",
            "spec_list": [{"spec_no": "G1-M", "spec_name": "M", "retail_price": "99"}]}
    bad = {"goods_no": "G2", "spec_list": "?"}
    erp = WdtErp(WdtApi(Answers({"total_count": 2, "goods_list": [good, bad]})), _wdt_tenant(), now=lambda: NOW)
    found = erp.changed_products(NOW - timedelta(hours=1), NOW)
    assert found[0].sku_id == "G1-M" and isinstance(found[1], MalformedRow) and found[1].key == "G2"
    assert [p.sku_id for p in erp.products_again(good)] == ["G1-M"]
    try:
        erp.products_again(found[1].raw)
    except PermanentError as exc:
        assert "still cannot be read" in str(exc)
    else:
        raise AssertionError("an unreadable goods row must still fail when read again unchanged")


def test_cloud_wms_keeps_an_unreadable_stock_row_and_document_in_their_place():
    from o2o_bridge.connectors.qimen.ledger import DOCUMENT_KIND, ITEM_KIND
    from o2o_bridge.connectors.qimen.warehouse import QimenWarehouse
    from o2o_bridge.tenant import parse_tenant
    from qimen_wms import cloud_doc

    tenant = parse_tenant(cloud_doc())
    records = FakeRecords()
    wms = QimenWarehouse(tenant, Answers({"items": [{"itemCode": "A", "quantity": 4, "inventoryType": "ZP"},
                                                    {"itemCode": "B", "quantity": "n/a"}]}),
                         records=records, timeline=FakeTimeline(), now=lambda: NOW)
    for sku in ("A", "B", "C"):
        records.put(tenant.ent_id, ITEM_KIND, sku, {})
    page = wms.stock_changes(tenant.qimen.warehouse_code, None)
    levels = {getattr(level, "sku_id", None): level for level in page.levels}
    assert levels["A"].figures["qty"] == 4 and levels["C"].figures["qty"] == 0  # C: not named by the WMS
    [bad] = [level for level in page.levels if isinstance(level, MalformedRow)]
    assert bad.key == "B" and "B" not in levels  # never read as 0

    records.put(tenant.ent_id, DOCUMENT_KIND, "PH1", {"kind": "stockout", "final": True, "confirmed": {"A": "two"}})
    records.put(tenant.ent_id, DOCUMENT_KIND, "PH2", {"kind": "stockout", "final": True, "confirmed": {"A": 2}})
    states = wms.store_documents(["PH1", "PH2"])
    assert isinstance(states[0], MalformedRow) and states[0].key == "PH1"
    assert states[1].status == "confirmed"
