"""A JST tenant whose ERP owns the stores' stock (stock.master: erp): stores S001 / S002 have JST
warehouses 20001 / 20002; an in-memory JST that books other in/out documents and stock counts
the way JST does (a repeated external_id / so_id is refused with code 160 and the first one
stays; a bin-managed warehouse's type=check count zeroes every SKU not sent)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from fakes import fake_context
from flows_stock.stock_fakes import FakeJst, FakeStore, modified_at, tenant_with
from o2o_bridge.connectors.jushuitan.errors import JstPermanentError, JstTransientError
from o2o_bridge.connectors.jushuitan.models import OtherInOut
from o2o_bridge.events.models import parse_event
from o2o_bridge import wiring

S001, S002 = 20001, 20002
PART = {1: "qty", 4: "defective_qty"}


class BookingJst(FakeJst):
    def __init__(self, *, bin_managed=()) -> None:
        super().__init__()
        self.documents: list[dict[str, Any]] = []  # every other in/out JST holds (one per external_id and type)
        self.counts: list[dict[str, Any]] = []     # every inventoryv2 upload JST took
        self.bin_managed = set(bin_managed)
        self._second = itertools.count(100)
        self._io_ids = itertools.count(900001)

    def move(self, wms: int, sku: str, field: str, delta: int) -> None:
        row = self.inventory.get((wms, sku), {})
        self.set(wms, sku, second=next(self._second), **{field: int(row.get(field, 0)) + delta})

    def upload_other_inout(self, doc):
        self.faults.check("upload_other_inout", JstTransientError)
        for held in self.documents:
            if held["external_id"] == doc.external_id and held["type"] == doc.type:
                raise JstPermanentError(f"外部单号{doc.external_id}已存在", path="/open/jushuitan/otherinout/upload",
                                        code=160, jst_msg=f"外部单号{doc.external_id}已存在")
        unknown = [i.sku_id for i in doc.items if not any(s == i.sku_id for (_, s) in self.inventory)]
        if unknown:
            raise JstPermanentError(f"商品编码{unknown[0]}不存在", path="/open/jushuitan/otherinout/upload", code=140,
                                    jst_msg=f"商品编码{unknown[0]}不存在")
        body = {**doc.model_dump(exclude_none=True), "io_id": next(self._io_ids)}
        self.documents.append(body)
        if doc.is_confirm:
            for item in doc.items:
                self.move(doc.wms_co_id, item.sku_id, PART[doc.warehouse], item.qty if doc.type == "in" else -item.qty)
        return {"data": {"external_id": doc.external_id, "io_id": body["io_id"]}}

    def query_other_inout(self, *, io_ids=(), so_ids=(), wms_co_id=None):
        return [OtherInOut.model_validate({"io_id": d["io_id"], "status": "Confirmed", "so_id": d["external_id"],
                                           "type": d["type"], "wms_co_id": d["wms_co_id"]})
                for d in self.documents if d["external_id"] in so_ids]

    def upload_inventory(self, *, wms_co_id, so_id_prefix, items, type="check", remark=None, riders=None):
        if riders is not None:  # written with the upload's grant, before the upload goes out
            riders.send_apart()
        self.faults.check("upload_inventory", JstTransientError)
        so_id = f"{so_id_prefix}-1"
        if any(c["so_id"] == so_id for c in self.counts):
            raise JstPermanentError(f"外部单号so_id={so_id}已存在", path="/open/jushuitan/inventoryv2/upload", code=160,
                                    jst_msg=f"外部单号so_id={so_id}已存在")
        self.counts.append({"so_id": so_id, "wms_co_id": wms_co_id, "type": type, "remark": remark,
                            "items": [(i.sku_id, i.qty) for i in items]})
        sent = {i.sku_id for i in items}
        for item in items:
            current = int(self.inventory.get((wms_co_id, item.sku_id), {}).get("qty", 0))
            self.move(wms_co_id, item.sku_id, "qty", item.qty - current if type == "check" else item.qty)
        if type == "check" and wms_co_id in self.bin_managed:  # 货位管理: what was not sent is zeroed
            for (wms, sku), row in list(self.inventory.items()):
                if wms == wms_co_id and sku not in sent and row.get("qty"):
                    self.move(wms, sku, "qty", -int(row["qty"]))
        return [{"code": 0, "issuccess": True, "data": {"data": {"so_id": so_id, "io_id": next(self._io_ids)}}}]


def erp_tenant(master="erp", bin_managed=()):
    def mutate(doc):
        doc["stock"]["master"] = master
        doc["jushuitan"]["bin_managed_wms_co_ids"] = list(bin_managed)
        doc["warehouses"] += [{"jst_wms_co_id": S001, "pos_warehouse_code": "S001"},
                              {"jst_wms_co_id": S002, "pos_warehouse_code": "S002"}]
    return tenant_with(mutate)


class World:
    def __init__(self, monkeypatch, *, master="erp", bin_managed=()) -> None:
        self.jst, self.store = BookingJst(bin_managed=bin_managed), FakeStore()
        self.ctx = fake_context(erp_tenant(master, bin_managed), jst=self.jst, store=self.store)
        monkeypatch.setattr(wiring, "context_for", lambda tenant: self.ctx)
        self._events = itertools.count(1)
        for wms in (S001, S002):
            for sku, qty in (("TS001-WHT-M", 10), ("TS001-WHT-L", 4)):
                self.jst.set(wms, sku, second=1, qty=qty)

    def event(self, event_type: str, **data):
        return parse_event({"event_id": f"evt-{next(self._events)}", "ent_id": self.ctx.ent_id, "type": event_type,
                            "occurred_at": "2026-12-01T10:00:00+08:00", "data": data})

    def sale(self, sale_no="XS001", store="S001", lines=(("TS001-WHT-M", 2),)):
        return self.event("sale.completed", sale_no=sale_no, store_code=store, sold_at="2026-12-01T10:00:00+08:00",
                          payment="wechat", total_amount=str(99 * sum(q for _, q in lines)),
                          items=[{"line_no": str(n), "sku_id": sku, "qty": qty, "price": "99", "amount": str(99 * qty)}
                                 for n, (sku, qty) in enumerate(lines, 1)])

    def refund(self, refund_no="TH001", store="S001", lines=(("TS001-WHT-M", 1),), defective=False):
        return self.event("sale.refunded", refund_no=refund_no, sale_no="XS001", store_code=store,
                          refunded_at="2026-12-01T11:00:00+08:00", defective=defective,
                          items=[{"line_no": str(n), "sku_id": sku, "qty": qty, "amount": str(99 * qty)}
                                 for n, (sku, qty) in enumerate(lines, 1)])

    def count(self, count_no="PD001", store="S001", counted=(("TS001-WHT-M", 7),)):
        return self.event("stock.counted", count_no=count_no, store_code=store, approved_at="2026-12-01T20:00:00+08:00",
                          items=[{"sku_id": sku, "counted_qty": qty} for sku, qty in counted])

    def transfer(self, doc_no="DB001", lines=(("TS001-WHT-M", 3),)):
        return self.event("store_transfer.submitted", doc_no=doc_no, from_store="S001", to_store="S002",
                          items=[{"sku_id": sku, "qty": qty} for sku, qty in lines])

    def received(self, doc_no="DB001", lines=(("TS001-WHT-M", 3),), store="S002"):
        return self.event("store_transfer.received", doc_no=doc_no, to_store=store,
                          received_at="2026-12-01T16:00:00+08:00",
                          items=[{"sku_id": sku, "qty": qty} for sku, qty in lines])

    def jst_qty(self, wms: int, sku: str, field: str = "qty") -> int:
        return int(self.jst.inventory.get((wms, sku), {}).get(field, 0))

    def store_qty(self, store: str, sku: str) -> int | None:
        cell = self.store.stores.get((store, sku))
        return None if cell is None else cell[0]


@pytest.fixture
def world(monkeypatch):
    return World(monkeypatch)


@pytest.fixture
def make_world(monkeypatch):
    return lambda **options: World(monkeypatch, **options)


__all__ = ["S001", "S002", "World", "modified_at"]
