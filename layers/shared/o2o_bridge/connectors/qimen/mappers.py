"""奇门 documents in the bridge's terms: parcels shipped, goods received, items to re-read.

A WMS names goods by ``itemCode``, which the bridge sends as the 店+ SKU id, so item codes
are SKU ids both ways. Quantities are whole units; a confirm's quantities are its own (a
``confirmType`` 1 message carries only what it adds).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from ...ports.warehouse import Shipment, ShippedLine
from ...shanghai_time import from_jst_text
from . import models as qm


@dataclass(frozen=True)
class Parcel:
    """One package of a deliveryorder / stockout confirm."""

    tracking_no: str | None
    carrier_code: str | None       # the WMS's logistics code
    carrier_name: str | None
    items: dict[str, int]          # SKU id -> units in this parcel
    package_code: str | None = None


@dataclass(frozen=True)
class Confirmation:
    """What one confirm message says happened to one of the bridge's WMS documents."""

    document_code: str             # deliveryOrderCode / returnOrderCode / entryOrderCode
    wms_id: str | None
    final: bool                    # confirmType 0 (or absent): no more messages for this document
    at: datetime | None
    parcels: list[Parcel] = field(default_factory=list)
    received: dict[str, int] = field(default_factory=dict)   # returns and entries: units received
    status: str | None = None


def _counted(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for sku, qty in pairs:
        if qty > 0:
            total[sku] += qty
    return dict(total)


def shipment_confirmation(confirm: qm.DeliveryOrderConfirm) -> Confirmation:
    """deliveryorder.confirm / stockout.confirm: one Parcel per package. A WMS that reports
    lines without packages shipped them as one parcel without a tracking number."""
    head = confirm.delivery_order
    parcels = [Parcel(tracking_no=p.express_code, carrier_code=p.logistics_code, carrier_name=p.logistics_name,
                      items=_counted((i.item_code, i.quantity) for i in p.items), package_code=p.package_code)
               for p in confirm.packages]
    parcels = [p for p in parcels if p.items]
    if not parcels and confirm.order_lines:
        lines = _counted((line.item_code, line.actual_qty) for line in confirm.order_lines)
        if lines:
            parcels = [Parcel(tracking_no=None, carrier_code=None, carrier_name=None, items=lines)]
    return Confirmation(document_code=head.delivery_order_code, wms_id=head.delivery_order_id,
                        final=head.confirm_type == 0, at=from_jst_text(head.order_confirm_time),
                        parcels=parcels, status=head.status)


def return_confirmation(confirm: qm.ReturnOrderConfirm) -> Confirmation:
    head = confirm.return_order
    return Confirmation(document_code=head.return_order_code, wms_id=head.return_order_id, final=True,
                        at=from_jst_text(head.order_confirm_time),
                        received=_counted((line.item_code, line.actual_qty) for line in confirm.order_lines))


def entry_confirmation(confirm: qm.EntryOrderConfirm) -> Confirmation:
    head = confirm.entry_order
    return Confirmation(document_code=head.entry_order_code, wms_id=head.entry_order_id,
                        final=head.confirm_type == 0, at=from_jst_text(head.operate_time),
                        received=_counted((line.item_code, line.actual_qty) for line in confirm.order_lines),
                        status=head.status)


def shipment_of(order_no: str, parcel: dict[str, Any]) -> Shipment:
    """A parcel the ledger recorded, as the port's Shipment (lines keyed by SKU: the WMS echoes no line no.)."""
    return Shipment(order_no=order_no, tracking_no=parcel["tracking_no"], carrier_code=parcel["carrier_code"],
                    carrier_name=parcel.get("carrier_name"), shipped_at=parcel.get("shipped_at") or "",
                    lines=tuple(ShippedLine(line_no=sku, sku_id=sku, qty=int(qty)) for sku, qty in parcel["items"].items()))


def items_to_reread(report: Any) -> list[str]:
    """stockchange.report / inventory.report name the items whose stock moved; the bridge
    reads their stock again (inventory.query) instead of adding the reported deltas."""
    return sorted({item.item_code for item in report.items if (item.inventory_type or "ZP") == "ZP"})


def stock_levels(answer: dict[str, Any], warehouse_code: str) -> tuple[dict[str, int], list[Any]]:
    """An inventory.query answer as SKU id -> sellable (unfrozen, 正品) units in the warehouse,
    and the rows that cannot be read (``MalformedRow``s keyed by their itemCode: their SKUs have
    no level here, so they are parked rather than read as 0)."""
    from pydantic import ValidationError

    from ..paging import read_rows

    try:
        rows, unreadable = qm.InventoryQueryAnswer.model_validate(answer).items, []
    except ValidationError:
        listed = (answer or {}).get("items")
        if not isinstance(listed, list):
            raise
        read = read_rows("奇门 inventory.query", listed, qm.StockRow, "itemCode")
        rows = [r for r in read if isinstance(r, qm.StockRow)]
        unreadable = [r for r in read if not isinstance(r, qm.StockRow)]
    levels: Counter[str] = Counter()
    for row in rows:
        if (row.inventory_type or "ZP") != "ZP" or (row.warehouse_code and row.warehouse_code != warehouse_code):
            continue
        levels[row.item_code] += row.quantity
    return dict(levels), unreadable
