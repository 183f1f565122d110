"""The store's own business at the till and in the stockroom, as ledger facts: retail sales and
refunds (零售日报, the stock ledger, cross-channel spending) and approved stock counts (盘点).

Recorded from the store events once their ERP flows have handled them (events/dispatch.py):
the sale happened at the store whatever the ERP does with it; an event the bridge answers 501
(no flow for the tenant's ERP yet) or fails records nothing. The fact's key (sale_no,
refund_no, count_no) makes a redelivered event a no-op here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ..ledger import Fact, FactLine, lines_of
from . import members

if TYPE_CHECKING:
    from ..events.models import PosEvent
    from .kit import FlowContext


def record(event: "PosEvent", ctx: "FlowContext") -> None:
    data = event.data
    if event.type == "sale.completed":
        ctx.ledger.append(Fact(
            ctx.ent_id, "sale.completed", f"sale:{data.store_code}:{data.sale_no}", data.sold_at,
            store_code=data.store_code, doc_no=data.sale_no, payment=data.payment, amount=data.total_amount,
            member_hash=members.member_identity(ctx, data.member_id, data.member_mobile), lines=lines_of(data.items)))
    elif event.type == "sale.refunded":
        ctx.ledger.append(Fact(
            ctx.ent_id, "sale.refunded", f"refund:{data.store_code}:{data.refund_no}", data.refunded_at,
            store_code=data.store_code, doc_no=data.refund_no, so_id=data.sale_no,
            reason="defective" if data.defective else None,
            amount=sum((item.amount for item in data.items), Decimal("0")),
            lines=lines_of(data.items)))
    elif event.type == "stock.counted":
        ctx.ledger.append(Fact(
            ctx.ent_id, "stock.counted", f"count:{data.store_code}:{data.count_no}", data.approved_at,
            store_code=data.store_code, doc_no=data.count_no,
            lines=tuple(FactLine(item.sku_id, int(item.counted_qty)) for item in data.items)))
