"""The business facts each flow appends to the document ledger (``ctx.ledger``), built here
so a flow says one line (``ledger_facts.shipped(ctx, ...)``) at the step it completes.

Every fact has a key that a replay of the same step rebuilds exactly, and a business time
that does not move on a replay (an event's own time, or a time stored with the step's first
run), so the fact lands once, on one day. Appending is safe to repeat: a step that failed
after its effect appends again on its retry and the ledger keeps the first.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable

from ..ledger import Fact, FactLine, lines_of, mobile_hash

if TYPE_CHECKING:
    from .kit import FlowContext


def moment(value: Any, ctx: "FlowContext") -> datetime:
    """An aware time from a datetime or ISO text; ``ctx.now()`` only when none was kept."""
    if isinstance(value, datetime):
        return value
    if value:
        from ..shanghai_time import from_jst_text

        parsed = from_jst_text(str(value))
        if parsed is not None:
            return parsed
    return ctx.now()


def _order_lines(data: dict[str, Any]) -> tuple[FactLine, ...]:
    lines = []
    for item in data.get("items", []):
        price = item.get("price")
        amount = Decimal(str(price)) * int(item["qty"]) if price not in (None, "") else None
        lines.append(FactLine(str(item["sku_id"]), int(item["qty"]), amount))
    return tuple(lines)


def _total(lines: Iterable[FactLine], data: dict[str, Any] | None = None) -> Decimal | None:
    """The lines' amounts, or the order's pay_amount when its lines carry no price."""
    amounts = [line.amount for line in lines if line.amount is not None]
    if amounts:
        return sum(amounts, Decimal("0"))
    paid = (data or {}).get("pay_amount")
    return Decimal(str(paid)) if paid not in (None, "") else None


def _buyer(ctx: "FlowContext", data: dict[str, Any]) -> str | None:
    return mobile_hash(ctx.ent_id, (data.get("receiver") or {}).get("mobile"))


def _cod(data: dict[str, Any]) -> Decimal | None:
    cod = data.get("cod_amount")
    return Decimal(str(cod)) if cod not in (None, "") else None


# --- S1: online orders at the stores -----------------------------------------------------------

def dispatched(ctx: "FlowContext", data: dict[str, Any], *, store_code: str, fulfilment_id: str, route_no: int,
               at: Any) -> bool:
    lines = _order_lines(data)
    return ctx.ledger.append(Fact(
        ctx.ent_id, "fulfilment.dispatched", f"dispatched:{data['io_id']}:{route_no}", moment(at, ctx),
        store_code=store_code, doc_no=fulfilment_id, io_id=data["io_id"], so_id=data.get("so_id") or None,
        delivery=data.get("delivery"), member_hash=_buyer(ctx, data), amount=_total(lines, data), cod_amount=_cod(data),
        lines=lines))


def fulfilled(ctx: "FlowContext", data: dict[str, Any], *, how: str, fulfilment_id: str, at: Any) -> bool:
    """The store shipped the order or the customer picked it up: the goods left the store."""
    lines = _order_lines(data)
    return ctx.ledger.append(Fact(
        ctx.ent_id, f"fulfilment.{how}", f"{how}:{data['io_id']}", moment(at, ctx),
        store_code=data.get("store_code"), doc_no=fulfilment_id, io_id=data["io_id"], so_id=data.get("so_id") or None,
        delivery=data.get("delivery"), member_hash=_buyer(ctx, data), amount=_total(lines, data), cod_amount=_cod(data),
        lines=lines))


def rejected(ctx: "FlowContext", data: dict[str, Any], *, store_code: str, fulfilment_id: str, reason: str,
             at: Any) -> bool:
    return ctx.ledger.append(Fact(
        ctx.ent_id, "fulfilment.rejected", f"rejected:{fulfilment_id}", moment(at, ctx), store_code=store_code,
        doc_no=fulfilment_id, io_id=data["io_id"], so_id=data.get("so_id") or None, delivery=data.get("delivery"),
        reason=reason, lines=_order_lines(data)))


def cancelled(ctx: "FlowContext", data: dict[str, Any], *, fulfilment_id: str, at: Any) -> bool:
    return ctx.ledger.append(Fact(
        ctx.ent_id, "fulfilment.cancelled", f"cancelled:{fulfilment_id}", moment(at, ctx),
        store_code=data.get("store_code"), doc_no=fulfilment_id, io_id=data["io_id"], so_id=data.get("so_id") or None,
        delivery=data.get("delivery"), reason="cancelled online", lines=_order_lines(data)))


def pickup_expired(ctx: "FlowContext", data: dict[str, Any], *, at: Any) -> bool:
    return ctx.ledger.append(Fact(
        ctx.ent_id, "pickup.expired", f"expired:{data['fulfilment_id']}", moment(at, ctx),
        store_code=data.get("store_code"), doc_no=data.get("fulfilment_id"), io_id=data["io_id"],
        so_id=data.get("so_id") or None, delivery="pickup", reason="not picked up in time", lines=_order_lines(data)))


def cod_collected(ctx: "FlowContext", *, io_id: str, store_code: str | None, amount: Any, method: str | None,
                  at: Any, source: str) -> bool:
    """货到付款 money the store collected for online order ``io_id``. One fact per order and
    source event kind: the store may report it on the shipped/picked-up event and again as
    payment.collected; the reconciliation reads both and counts an order's collection once."""
    return ctx.ledger.append(Fact(
        ctx.ent_id, "cod.collected", f"cod:{io_id}", moment(at, ctx), store_code=store_code, doc_no=io_id,
        io_id=io_id, payment=method, reason=source, amount=Decimal(str(amount))))


# --- S2: store orders the warehouse ships, and their returns --------------------------------------

def store_order_shipped(ctx: "FlowContext", *, so_id: str, shipment_key: str, lines: Iterable[dict[str, Any]],
                        at: Any) -> bool:
    return ctx.ledger.append(Fact(
        ctx.ent_id, "store_order.shipped", f"s2-shipped:{shipment_key}", moment(at, ctx), doc_no=so_id, so_id=so_id,
        lines=lines_of(lines, amount=None)))


def store_order_cancelled(ctx: "FlowContext", *, so_id: str, reason: str | None, at: Any) -> bool:
    """JST cancelled a store order the warehouse was to ship; the store was told (S2c)."""
    return ctx.ledger.append(Fact(ctx.ent_id, "store_order.cancelled", f"s2-cancelled:{so_id}", moment(at, ctx),
                                  doc_no=so_id, so_id=so_id, reason=reason or "cancelled in the ERP"))


def store_order_returned(ctx: "FlowContext", *, return_no: str, order_no: str | None, key: str,
                         items: Iterable[dict[str, Any]], action: str, at: Any) -> bool:
    sign = 1 if action == "confirm" else -1
    return ctx.ledger.append(Fact(
        ctx.ent_id, "store_order.returned", f"s2-return:{key}", moment(at, ctx), doc_no=return_no, so_id=order_no,
        reason="received" if action == "confirm" else "receipt cancelled",
        lines=tuple(FactLine(line.sku_id, sign * line.qty) for line in lines_of(items, amount=None))))


# --- S5 / S6: 配货 and 退仓 ------------------------------------------------------------------------

def transfer_shipped(ctx: "FlowContext", *, doc_no: str, store_code: str, items: Iterable[Any], at: Any) -> bool:
    """配货: the warehouse shipped the goods the store asked for (booked into the store)."""
    return ctx.ledger.append(Fact(
        ctx.ent_id, "transfer.shipped", f"transfer:{doc_no}", moment(at, ctx), store_code=store_code, doc_no=doc_no,
        lines=lines_of(items, amount=None)))


def warehouse_return_received(ctx: "FlowContext", *, doc_no: str, store_code: str, items: Iterable[Any],
                              at: Any) -> bool:
    """退仓: the warehouse received what the store sent back (booked out of the store)."""
    return ctx.ledger.append(Fact(
        ctx.ent_id, "warehouse_return.received", f"warehouse-return:{doc_no}", moment(at, ctx),
        store_code=store_code, doc_no=doc_no, lines=lines_of(items, amount=None)))
