"""S1c: the ERP voided the outbound. What the stores were doing with it stops: a dispatched
order is cancelled at its store (P2, once per fulfilment order), a store that already
shipped, or refuses, makes it an exception for a person."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import kit, ledger_facts, reservations
from ..kit import attempt, effect_once, flow_command
from .exceptions import park, resolve_exception
from .order import Order, change_order, load_order

if TYPE_CHECKING:
    from ..kit import FlowContext


def cancel_outbound(ctx: "FlowContext", io_id: str, *, jst_status: str) -> bool:
    """JST voided the outbound: stop whatever the stores were doing with it. True when it changed."""
    before, after = change_order(ctx, io_id, Order.cancel_by_erp, io_id, jst_status)
    if after is before:
        if before and before["status"] == "cancelled" and before.get("was") == "dispatched" \
                and before.get("fulfilment_id") and not kit.effect_done(ctx, f"s1.cancel:{before['fulfilment_id']}"):
            # A run that noted the cancel died before asking the store: ask it now (once, effect_once).
            attempt(ctx, cancel_at_store, {"io_id": io_id, "fulfilment_id": before["fulfilment_id"]}, trace_key=io_id)
            return True
        if before and before["status"] in ("shipped", "picked_up"):
            park(ctx, io_id, "cancelled_after_shipping",
                 f"JST marked the outbound {jst_status} after the store {before['status'].replace('_', ' ')} it")
        return False
    ctx.timeline.record(io_id, ctx.ent_id, "s1.cancelled_at_jst", {"jst_status": jst_status,
                                                                   "was": (before or {}).get("status", "unseen")})
    resolve_exception(ctx, io_id)
    if before and before["status"] == "dispatched" and before.get("fulfilment_id"):
        attempt(ctx, cancel_at_store, {"io_id": io_id, "fulfilment_id": before["fulfilment_id"],
                                       "at": ctx.now().isoformat()}, trace_key=io_id)
    return True


@flow_command("s1.cancel_at_store")
def cancel_at_store(ctx: "FlowContext", payload: dict[str, Any]) -> None:
    """P2, once per fulfilment order; a store that already shipped makes it an exception."""
    from ...connectors.store.errors import PosConflict

    io_id, fulfilment_id = str(payload["io_id"]), str(payload["fulfilment_id"])
    try:
        outcome = effect_once(ctx, f"s1.cancel:{fulfilment_id}", lambda: ctx.store.cancel_fulfilment_order(
            fulfilment_id, "订单已在聚水潭取消 (the online order was cancelled)").status)
    except PosConflict as exc:
        park(ctx, io_id, "store_cannot_cancel", f"JST cancelled the outbound but the store refused: {exc.pos_msg or exc}")
        return
    order = load_order(ctx, io_id)
    if order is not None and order.data.get("store_code"):
        reservations.let_go(ctx, order.data["store_code"], io_id, order.data.get("capacity_day"))
        ledger_facts.cancelled(ctx, order.data, fulfilment_id=fulfilment_id, at=payload.get("at"))
    if not outcome.repeated:
        ctx.timeline.record(io_id, ctx.ent_id, "s1.cancelled_at_store", {"fulfilment_id": fulfilment_id,
                                                                         "status": outcome.result})
