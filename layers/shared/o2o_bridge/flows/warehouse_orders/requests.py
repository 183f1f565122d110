"""S2: what the store asks of the warehouse: ship a store order, cancel it, take a return.

Each request is a step (``kit.flow_command``) tried at once and queued for retry on a
transient failure; the warehouse call is done once (``kit.effect_once`` on the store's own
document number, which the warehouse also keys it by). The order's and the return's state is
their ledger (ledger.py), changed by named transitions.
"""

from __future__ import annotations

from typing import Any

from ...errors import TransientError
from ...ports import DocumentLink
from ...ports.warehouse import OrderLine, Receiver, ReturnRequest, StoreOrder, WarehouseRefused
from .. import cash_on_delivery, kit
from .ledger import ORDER_KIND, ORDERS, RECORD_TTL_DAYS, RETURNS, OrderLedger, ReturnLedger, merge_skus

STORE_ORDER, STORE_RETURN = "store_order", "store_return"


def warehouse_order(ctx: kit.FlowContext) -> str:
    """The link kind of the warehouse's order ids: "jst_order" for JST (its stored links keep that name)."""
    return f"{ctx.warehouse.info.system}_order"


def warehouse_return(ctx: kit.FlowContext) -> str:
    return f"{ctx.warehouse.info.system}_aftersale"


def warehouse_order_id(ctx: kit.FlowContext, order_no: str) -> str | None:
    """The warehouse's id of a store order: what the order's ledger holds (read moments ago by
    the flow that asks, so no request), else its link (orders from before the ledger kept it)."""
    ledger = ORDERS.get(ctx, order_no)
    if ledger is not None and ledger.o_id:
        return ledger.o_id
    link = ctx.links.find(ctx.ent_id, STORE_ORDER, order_no, warehouse_order(ctx))
    return link.other_key if link is not None else None


def _return_items(ret: Any) -> list[dict[str, Any]]:
    return merge_skus((line.sku_id, line.qty) for line in ret.items)


# --- store events (o2o_bridge.events.routes) ---------------------------------------------------


def on_order_warehouse_requested(event: Any, ctx: kit.FlowContext) -> None:
    """S2: the warehouse is to ship the store order.

    The event keeps no record of its own (its route says ``once_by_its_effect``): the upload's
    effect record is keyed by the order, so a repeat of the event is one refused claim."""
    order = event.data
    if kit.attempt(ctx, upload_order, {"order": order.model_dump(mode="json")}, trace_key=order.order_no) is None:
        # Queued for retry: remember the order now, so a cancel arriving first waits for it.
        ORDERS.change(ctx, order.order_no, OrderLedger.remember, order.items)


def on_order_cancelled(event: Any, ctx: kit.FlowContext) -> None:
    """S2: the store cancelled an order it had sent to the warehouse: cancel it there.

    The event keeps no record of its own (its route says ``once_by_its_effect``): the cancel is
    claimed on the order's ledger, whose "cancelled by the store" answers a repeat."""
    order_no = event.data.order_no
    kit.attempt(ctx, cancel_in_warehouse, {"order_no": order_no, "reason": event.data.reason}, trace_key=order_no)


def on_return_requested(event: Any, ctx: kit.FlowContext) -> None:
    """S2r: the customer returns goods of a warehouse-shipped order to the warehouse."""
    ret = event.data
    if kit.attempt(ctx, upload_aftersale, {"return": ret.model_dump(mode="json")}, trace_key=ret.return_no) is None:
        RETURNS.change(ctx, ret.return_no, ReturnLedger.remember, ret.order_no, _return_items(ret))


# --- steps (retried by the retry worker after a transient failure) -----------------------


@kit.flow_command("s2.upload_order")
def upload_order(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    from ...events.models import OrderWarehouseRequested

    order = OrderWarehouseRequested.model_validate(payload["order"])
    try:
        # The steps, the link, the ledger and the "done" are written together: one request.
        outcome = kit.effect_once(ctx, f"s2.upload:{order.order_no}", lambda: _upload_order(ctx, order),
                                  ttl_days=RECORD_TTL_DAYS, book=lambda result: _book_upload(ctx, order, result))
    except WarehouseRefused as refused:
        if ORDERS.exists(ctx, order.order_no):  # it was queued: a cancel must not wait for it
            ORDERS.change(ctx, order.order_no, OrderLedger.refuse, refused.message)
        ctx.timeline.record(order.order_no, ctx.ent_id, "s2.upload_refused", {"msg": refused.message}, level="error")
        raise
    if not outcome.repeated:
        ctx.metric("WarehouseOrderUploaded", 1)
    return outcome.result


def _upload_order(ctx: kit.FlowContext, order: Any) -> dict[str, Any]:
    # Recorded by the claim's owner only: a repeated event (one refused claim) writes nothing.
    ctx.timeline.record(order.order_no, ctx.ent_id, "s2.warehouse_requested",
                        {"lines": len(order.items), "pay_amount": str(order.pay_amount)})
    receiver = order.receiver
    accepted = ctx.warehouse.submit_order(StoreOrder(
        order_no=order.order_no, paid_at=order.paid_at, pay_amount=order.pay_amount, freight=order.freight,
        receiver=Receiver(name=receiver.name, mobile=receiver.mobile, province=receiver.province, city=receiver.city,
                          district=receiver.district, address=receiver.address),
        lines=tuple(OrderLine(line_no=line.line_no, sku_id=line.sku_id, qty=line.qty, price=line.price,
                              amount=line.amount, name=line.name) for line in order.items),
        cod_amount=order.cod.amount if order.cod is not None else None))
    # "o_id": the warehouse's order id (JST's o_id), the name stored effects already carry.
    return {"o_id": accepted.warehouse_order_id, "warehouse": ctx.warehouse.info.system}


def _book_upload(ctx: kit.FlowContext, order: Any, result: dict[str, Any]) -> None:
    o_id = result["o_id"]
    ctx.links.link(DocumentLink(ctx.ent_id, STORE_ORDER, order.order_no, warehouse_order(ctx), o_id))
    ORDERS.create_or_change(ctx, order.order_no, OrderLedger.remember, order.items, o_id,
                            bool(order.cod is not None and order.cod.amount))
    cash_on_delivery.expect_for_store_order(ctx, order)  # 货到付款: the courier collects the COD part
    ctx.timeline.record(order.order_no, ctx.ent_id, "s2.uploaded", result)


# The command keeps its first name: queued retries and dead letters refer to it.
@kit.flow_command("s2.cancel_in_jst")
def cancel_in_warehouse(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    """The store's cancel, done once, claimed on the order's ledger (kit.claim_document): the claim
    reads the ledger (the warehouse's id, whether the store cancelled already) and keeps a second
    worker from calling the warehouse meanwhile; the "done" writes "cancelled by the store", the
    cancel's mark and the timeline step in one request and answers every repeat. A crash between
    the warehouse's cancel and that write cancels again after the lease (the warehouse's cancel of
    its own order id is idempotent)."""
    order_no, reason = payload["order_no"], payload["reason"]
    done_mark = f"{CANCELLED_IN_WAREHOUSE}:{order_no}"
    with kit.claim_document(ctx, ORDER_KIND, order_no, unless=(done_mark,), ttl_days=RECORD_TTL_DAYS) as claim:
        ledger = OrderLedger.of(claim.data)
        if claim.repeated or ledger.cancelled_by == "store":
            return {"outcome": "repeated", "o_id": ledger.o_id}
        if claim.version == 0 and not claim.data:  # no ledger: an order from before the ledger kept it, or none of ours
            claim.release()
            link = ctx.links.find(ctx.ent_id, STORE_ORDER, order_no, warehouse_order(ctx))
            if link is None:
                ctx.timeline.record(order_no, ctx.ent_id, "s2.cancel_ignored", {"why": "not an order sent to the warehouse"})
                return {"outcome": "not_sent"}
            return _cancel_by_effect(ctx, order_no, link.other_key, reason)
        if ledger.refused:
            ctx.timeline.record(order_no, ctx.ent_id, "s2.cancel_ignored", {"why": "the warehouse refused the order"})
            return {"outcome": "not_in_jst"}
        o_id = ledger.o_id or warehouse_order_id(ctx, order_no)
        if o_id is None:
            # The upload is still waiting for its retry: cancel after it.
            raise TransientError(f"store order {order_no} is not in the warehouse yet; its cancel waits for the upload",
                                 retry_after_seconds=30)
        ctx.warehouse.cancel_order(order_no, o_id, reason)
        result = {"o_id": o_id}
        claim.complete(_cancelled_by_store, marks=(done_mark,), step=("s2.cancelled_in_jst", result))
    return {"outcome": "cancelled", **result}


# The effect and timeline names say "jst": stored effects of running orders carry them.
CANCELLED_IN_WAREHOUSE = "s2.jst-cancel"


def _cancelled_by_store(data: dict[str, Any]) -> dict[str, Any]:
    ledger = OrderLedger.of(data)
    ledger.cancel_by_store()
    return ledger.record()


def _cancel_by_effect(ctx: kit.FlowContext, order_no: str, o_id: str, reason: str) -> dict[str, Any]:
    """An order from before the ledger kept the warehouse's id: its cancel is kept once by an effect record."""

    def cancel() -> dict[str, Any]:
        ctx.warehouse.cancel_order(order_no, o_id, reason)
        ORDERS.change(ctx, order_no, OrderLedger.cancel_by_store)
        return {"o_id": o_id}

    outcome = kit.effect_once(ctx, f"{CANCELLED_IN_WAREHOUSE}:{order_no}", cancel, ttl_days=RECORD_TTL_DAYS)
    if not outcome.repeated:
        ctx.timeline.record(order_no, ctx.ent_id, "s2.cancelled_in_jst", outcome.result)
    return {"outcome": "repeated" if outcome.repeated else "cancelled", **outcome.result}


@kit.flow_command("s2.upload_aftersale")
def upload_aftersale(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    from ...events.models import ReturnRequested

    ret = ReturnRequested.model_validate(payload["return"])
    outcome = kit.effect_once(ctx, f"s2.aftersale-upload:{ret.return_no}", lambda: _upload_aftersale(ctx, ret),
                              ttl_days=RECORD_TTL_DAYS, book=lambda result: _book_aftersale(ctx, ret, result))
    return outcome.result


def _upload_aftersale(ctx: kit.FlowContext, ret: Any) -> dict[str, Any]:
    # Recorded by the claim's owner only: a repeated event (one refused claim) writes nothing.
    ctx.timeline.record(ret.return_no, ctx.ent_id, "s2.return_requested", {"order_no": ret.order_no})
    accepted = ctx.warehouse.submit_return(ReturnRequest(
        return_no=ret.return_no, order_no=ret.order_no, kind=ret.type,
        lines=tuple(OrderLine(line_no=line.line_no, sku_id=line.sku_id, qty=line.qty, amount=line.amount)
                    for line in ret.items)))
    return {"as_id": accepted.warehouse_return_id}


def _book_aftersale(ctx: kit.FlowContext, ret: Any, result: dict[str, Any]) -> None:
    as_id = result["as_id"]
    if as_id:
        ctx.links.link(DocumentLink(ctx.ent_id, STORE_RETURN, ret.return_no, warehouse_return(ctx), as_id))
    RETURNS.create_or_change(ctx, ret.return_no, ReturnLedger.remember, ret.order_no, _return_items(ret), as_id)
    ctx.timeline.record(ret.return_no, ctx.ent_id, "s2.aftersale_uploaded", result)
