"""S2: store and micro-mall orders the warehouse fulfils (线下订单线上发货, 缺货订单仓发).

The store side asks, JST answers with pushes, a schedule catches the pushes JST lost:

- ``order.warehouse_requested`` → the order goes to the tenant's 自有商城 shop in JST
  (``so_id`` = store order no., ``outer_oi_id`` = line no., paid); ``so_id`` ↔ ``o_id`` linked.
- ``order.cancelled`` (the store cancelled) → JST ``orderbyoid/cancel``.
- ``return.requested`` → JST after-sale (``outer_as_id`` = return no.).
- 物流同步 push (S2d) → P3, once per parcel (so_id, l_id, lines); partial shipments add up
  in the order's ledger, so nothing ships twice and a fully shipped order takes no more.
- 取消订单 push (S2c) → P4. 售后收货 push (S2r) → P5 confirm / cancel.
- ``recover_missed_pushes`` (S2x, every 15 min) reads ``/open/logistic/query`` and
  ``/open/aftersale/received/query`` over overlapping windows and runs the same steps with the
  same effect keys, so a parcel seen by both the push and the poll is one effect.

A callback is acknowledged when its step is done, queued for retry (transient failure) or
dead-lettered with its reason (the store refused; an operator fixes and replays it).
"""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import ConfigurationError, PermanentError, TransientError, UnprocessableRequest
from ..ports import DocumentLink
from ..shanghai_time import from_jst_text, to_jst_text
from . import kit

if TYPE_CHECKING:
    from ..tenant import Tenant
    from ..web.jst_push import JstPush


# Flow state (RecordRepository kinds), links and cursors of this scenario.
ORDER_KIND = "s2.order"      # per store order: its lines, JST o_id, parcels shipped, cancelled by whom
RETURN_KIND = "s2.return"    # per store return: its lines, JST as_id, receipt state
STORE_ORDER, JST_ORDER = "store_order", "jst_order"
STORE_RETURN, JST_AFTERSALE = "store_return", "jst_aftersale"
LOGISTICS_CURSOR = "s2x.logistics"
RECEIVED_CURSOR = "s2x.aftersale_received"

# S2x windows: each run starts this long before the previous run's end, so a record whose
# send/modified time lands at a window edge (or is written late) is seen at least once.
OVERLAP = timedelta(minutes=30)
FIRST_LOOKBACK = timedelta(days=1)
# Stop a scan early (cursor not advanced) when the Lambda has less than this left.
STOP_WHEN_SECONDS_LEFT = 20.0
RECORD_TTL_DAYS = 400

# The store's return types that JST knows by another name (anything else: a normal return).
AFTERSALE_TYPES = {"return": "普通退货", "refund_only": "仅退款", "exchange": "换货", "reject": "拒收退货",
                   "reship": "补发", "repair": "维修", "other": "其它"}
JST_AFTERSALE_TYPES = frozenset(AFTERSALE_TYPES.values()) | {"投诉"}


class WarehouseRefused(UnprocessableRequest):
    """JST refused the store's document (a row error of an upload, a cancel it cannot do).
    The store system gets a 422 with JST's own message; nothing is linked or recorded."""


# =====================================================================================
# Store events (o2o_bridge.events.dispatch FLOWS)
# =====================================================================================


def on_order_warehouse_requested(event: Any, tenant: "Tenant") -> None:
    """S2: upload the store order to the tenant's 自有商城 shop in JST."""
    ctx = kit.context_for(tenant)
    order = event.data
    ctx.timeline.record(order.order_no, ctx.ent_id, "s2.warehouse_requested",
                        {"lines": len(order.items), "pay_amount": str(order.pay_amount)})
    if kit.attempt(ctx, upload_order, {"order": order.model_dump(mode="json")}, trace_key=order.order_no) is None:
        # Queued for retry: remember the order now, so a cancel arriving first waits for it.
        _remember_order(ctx, order)


def on_order_cancelled(event: Any, tenant: "Tenant") -> None:
    """S2: the store cancelled an order it had sent to the warehouse: cancel it in JST."""
    ctx = kit.context_for(tenant)
    order_no = event.data.order_no
    ledger = _record(ctx, ORDER_KIND, order_no)
    if ledger is None and ctx.links.find(ctx.ent_id, STORE_ORDER, order_no, JST_ORDER) is None:
        ctx.timeline.record(order_no, ctx.ent_id, "s2.cancel_ignored", {"why": "not an order sent to the warehouse"})
        return
    kit.attempt(ctx, cancel_in_jst, {"order_no": order_no, "reason": event.data.reason}, trace_key=order_no)


def on_return_requested(event: Any, tenant: "Tenant") -> None:
    """S2r: the customer returns goods of a warehouse-shipped order: an after-sale in JST."""
    ctx = kit.context_for(tenant)
    ret = event.data
    ctx.timeline.record(ret.return_no, ctx.ent_id, "s2.return_requested", {"order_no": ret.order_no})
    if kit.attempt(ctx, upload_aftersale, {"return": ret.model_dump(mode="json")}, trace_key=ret.return_no) is None:
        _remember_return(ctx, ret)


# --- steps (retried by the retry worker after a transient failure) -----------------------


@kit.flow_command("s2.upload_order")
def upload_order(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    from ..events.models import OrderWarehouseRequested

    order = OrderWarehouseRequested.model_validate(payload["order"])
    try:
        outcome = kit.effect_once(ctx, f"s2.upload:{order.order_no}", lambda: _upload_order(ctx, order),
                                  ttl_days=RECORD_TTL_DAYS)
    except WarehouseRefused as refused:
        if _record(ctx, ORDER_KIND, order.order_no) is not None:  # it was queued: a cancel must not wait for it
            _change_record(ctx, ORDER_KIND, order.order_no, lambda data: data.update(refused=refused.message))
        ctx.timeline.record(order.order_no, ctx.ent_id, "s2.upload_refused", {"msg": refused.message}, level="error")
        raise
    if not outcome.repeated:
        ctx.timeline.record(order.order_no, ctx.ent_id, "s2.uploaded", outcome.result)
        ctx.metric("WarehouseOrderUploaded", 1)
    return outcome.result


def _upload_order(ctx: kit.FlowContext, order: Any) -> dict[str, Any]:
    from ..connectors.jushuitan import models as jst

    tenant = ctx.tenant
    paid_at = to_jst_text(order.paid_at)
    receiver = order.receiver
    upload = jst.OrderUpload(
        shop_id=tenant.jushuitan.self_mall_shop_id, so_id=order.order_no, order_date=paid_at,
        shop_status="WAIT_SELLER_SEND_GOODS", shop_buyer_id=receiver.mobile,
        receiver_state=receiver.province, receiver_city=receiver.city, receiver_district=receiver.district,
        receiver_address=receiver.address, receiver_name=receiver.name, receiver_mobile=receiver.mobile,
        pay_amount=order.pay_amount, freight=order.freight,
        items=[jst.OrderUploadItem(sku_id=line.sku_id, shop_sku_id=line.sku_id, name=line.name or line.sku_id, qty=line.qty,
                                   price=line.price, base_price=line.price, amount=line.amount,
                                   outer_oi_id=line.line_no) for line in order.items],
        # With WAIT_SELLER_SEND_GOODS, JST shows the order paid only when pay.amount == pay_amount.
        pay=jst.OrderPay(outer_pay_id=f"{order.order_no}-PAY", pay_date=paid_at, payment="店+",
                         seller_account=tenant.name, buyer_account=receiver.mobile, amount=order.pay_amount),
    )
    row = _row_for(ctx.jst.upload_orders([upload]), order.order_no, lambda r: r.so_id)
    if row.issuccess and row.o_id:
        o_id = row.o_id
    elif _already_there(row.msg):
        # A retry after a lost answer: JST has the order already; that is success.
        o_id = row.o_id or _o_id_in_jst(ctx, order.order_no)
    else:
        raise WarehouseRefused(f"JST refused order {order.order_no}: {row.msg or 'no reason given'}")
    ctx.links.link(DocumentLink(ctx.ent_id, STORE_ORDER, order.order_no, JST_ORDER, str(o_id)))
    _remember_order(ctx, order, o_id=str(o_id))
    return {"o_id": str(o_id), "shop_id": tenant.jushuitan.self_mall_shop_id}


@kit.flow_command("s2.cancel_in_jst")
def cancel_in_jst(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    from ..connectors.jushuitan.errors import JstPermanentError

    order_no, reason = payload["order_no"], payload["reason"]
    ledger = _record(ctx, ORDER_KIND, order_no) or {}
    if ledger.get("refused"):
        ctx.timeline.record(order_no, ctx.ent_id, "s2.cancel_ignored", {"why": "JST refused the order's upload"})
        return {"outcome": "not_in_jst"}
    o_id = _o_id_of(ctx, order_no)
    if o_id is None:
        # The upload is still waiting for its retry: cancel after it.
        raise TransientError(f"store order {order_no} is not in JST yet; its cancel waits for the upload",
                             retry_after_seconds=30)

    def cancel() -> dict[str, Any]:
        try:
            ctx.jst.cancel_orders([int(o_id)], cancel_type="店+取消", remark=reason)
        except JstPermanentError as exc:
            raise WarehouseRefused(f"JST refused to cancel order {order_no} (o_id {o_id}): {exc.jst_msg or exc.message}") from None
        _change_record(ctx, ORDER_KIND, order_no, lambda data: data.update(cancelled_by="store"))
        return {"o_id": o_id}

    outcome = kit.effect_once(ctx, f"s2.jst-cancel:{order_no}", cancel, ttl_days=RECORD_TTL_DAYS)
    if not outcome.repeated:
        ctx.timeline.record(order_no, ctx.ent_id, "s2.cancelled_in_jst", outcome.result)
    return {"outcome": "repeated" if outcome.repeated else "cancelled", **outcome.result}


@kit.flow_command("s2.upload_aftersale")
def upload_aftersale(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    from ..events.models import ReturnRequested

    ret = ReturnRequested.model_validate(payload["return"])
    outcome = kit.effect_once(ctx, f"s2.aftersale-upload:{ret.return_no}", lambda: _upload_aftersale(ctx, ret),
                              ttl_days=RECORD_TTL_DAYS)
    if not outcome.repeated:
        ctx.timeline.record(ret.return_no, ctx.ent_id, "s2.aftersale_uploaded", outcome.result)
    return outcome.result


def _upload_aftersale(ctx: kit.FlowContext, ret: Any) -> dict[str, Any]:
    from ..connectors.jushuitan import models as jst

    tenant = ctx.tenant
    total = sum((line.amount for line in ret.items), Decimal(0))
    upload = jst.AfterSaleUpload(
        shop_id=tenant.jushuitan.self_mall_shop_id, outer_as_id=ret.return_no, so_id=ret.order_no,
        type=ret.type if ret.type in JST_AFTERSALE_TYPES else AFTERSALE_TYPES.get(ret.type, "普通退货"),
        total_amount=total, refund=total, wms_co_id=tenant.jushuitan.return_wms_co_id,
        warehouse_type=tenant.jushuitan.aftersale_warehouse_type,  # 销退仓 (2) unless the tenant says otherwise
        items=[jst.AfterSaleItemUpload(sku_id=line.sku_id, qty=line.qty, amount=line.amount,
                                       outer_oi_id=line.line_no) for line in ret.items],
    )
    row = _row_for(ctx.jst.upload_aftersales([upload]), ret.return_no, lambda r: r.outer_as_id)
    if not (row.issuccess or (_already_there(row.msg) and row.as_id)):
        raise WarehouseRefused(f"JST refused return {ret.return_no}: {row.msg or 'no reason given'}")
    if row.as_id:
        ctx.links.link(DocumentLink(ctx.ent_id, STORE_RETURN, ret.return_no, JST_AFTERSALE, str(row.as_id)))
    _remember_return(ctx, ret, as_id=str(row.as_id) if row.as_id else None)
    return {"as_id": str(row.as_id) if row.as_id else None}


# =====================================================================================
# JST pushes (functions/*_callback): the push is authenticated and parsed by read_push
# =====================================================================================


def on_delivery_push(push: "JstPush") -> list[dict[str, Any]]:
    """S2d 物流同步: one parcel; a merged order's lines carry their own so_id."""
    body = push.delivery()
    ctx = kit.context_for(push.tenant)
    by_order: dict[str, list[dict[str, Any]]] = {}
    for item in body.items:
        by_order.setdefault(item.so_id or body.so_id, []).append(
            {"line": item.outer_oi_id or item.sku_id, "sku_id": item.sku_id, "qty": _whole(item.qty)})
    return [settle(ctx, record_shipment, {
        "so_id": so_id, "l_id": body.l_id, "lc_id": body.lc_id, "logistics_company": body.logistics_company,
        "send_date": body.send_date or to_jst_text(ctx.now()), "lines": lines, "source": "push"}, trace_key=so_id)
        for so_id, lines in by_order.items()]


def on_cancel_push(push: "JstPush") -> dict[str, Any]:
    """S2c 取消订单."""
    body = push.cancel()
    ctx = kit.context_for(push.tenant)
    return settle(ctx, cancel_store_order, {"so_id": body.so_id, "remark": body.remark or ""}, trace_key=body.so_id)


def on_return_goods_push(push: "JstPush") -> dict[str, Any]:
    """S2r 售后收货: 确认收货 (confirm) or 取消收货 (cancel)."""
    body = push.return_goods()
    ctx = kit.context_for(push.tenant)
    payload = {"return_no": body.outer_as_id, "so_id": body.so_id, "as_id": body.as_id,
               "action": "confirm" if body.received else "cancel",
               "received_at": getattr(body, "send_date", None) or to_jst_text(ctx.now()),
               "items": _merge_skus((i.sku_id, _whole(i.qty)) for i in body.items), "source": "push"}
    return settle(ctx, record_return_receipt, payload, trace_key=body.outer_as_id)


def settle(ctx: kit.FlowContext, step: kit.FlowStep, payload: dict[str, Any], *, trace_key: str) -> dict[str, Any]:
    """A push or a polled record is settled (done, queued, or parked with its reason); the
    input's ``source`` is left out of its identity so push and poll park one letter."""
    return kit.settle(ctx, step, payload, trace_key=trace_key, identity_ignores=("source",))


# --- S2d: a parcel shipped ---------------------------------------------------------------


def shipment_key(so_id: str, l_id: str, lines: Iterable[dict[str, Any]]) -> str:
    """The business key of one parcel: (so_id, l_id, its lines) — the same from the push and the poll."""
    canonical = ",".join(sorted(f"{line['line']}|{line['sku_id']}|{line['qty']}" for line in lines))
    if len(canonical) > 120:
        canonical = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return f"{so_id}:{l_id}:{canonical}"


@kit.flow_command("s2.record_shipment")
def record_shipment(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    from ..connectors.store import models as pos

    so_id, l_id = payload["so_id"], payload["l_id"]
    key = shipment_key(so_id, l_id, payload["lines"])
    effect = f"s2.shipment:{key}"
    if kit.effect_done(ctx, effect):
        return {"outcome": "repeated"}
    ledger = _record(ctx, ORDER_KIND, so_id)
    if ledger is not None and ledger.get("lines") and not _unshipped(ledger):
        ctx.timeline.record(so_id, ctx.ent_id, "s2.shipment_ignored",
                            {"l_id": l_id, "why": "the order is already fully shipped", "source": payload["source"]})
        return {"outcome": "already_shipped"}
    to_ship = _still_to_ship(ledger, payload["lines"])
    if not to_ship:
        ctx.timeline.record(so_id, ctx.ent_id, "s2.shipment_ignored",
                            {"l_id": l_id, "why": "its lines are shipped already", "source": payload["source"]})
        return {"outcome": "already_shipped"}
    carrier = _carrier(ctx.tenant, payload["lc_id"])

    def ship() -> dict[str, Any]:
        shipment = pos.Shipment(
            carrier_code=carrier.pos_code, carrier_name=carrier.name, tracking_no=l_id,
            shipped_at=from_jst_text(payload.get("send_date")) or ctx.now(),
            items=[pos.SkuQty(sku_id=s["sku_id"], qty=s["qty"]) for s in _merge_skus(
                (line["sku_id"], line["qty"]) for line in to_ship)])
        done = _once_at_store(lambda: ctx.store.ship_order(so_id, shipment, business_key=key))
        _change_record(ctx, ORDER_KIND, so_id, lambda data: data.setdefault("parcels", {}).setdefault(
            key, {"l_id": l_id, "lines": {line["line"]: line["qty"] for line in to_ship}}))
        return {"shipment_id": getattr(done, "shipment_id", None), "status": done.status, "l_id": l_id,
                "carrier": carrier.pos_code, "lines": {line["line"]: line["qty"] for line in to_ship}}

    outcome = kit.effect_once(ctx, effect, ship, ttl_days=RECORD_TTL_DAYS)
    if outcome.repeated:
        return {"outcome": "repeated"}
    ctx.timeline.record(so_id, ctx.ent_id, "s2.shipped", {**outcome.result, "source": payload["source"]})
    ctx.metric("WarehouseOrderShipped", 1)
    return {"outcome": "shipped", **outcome.result}


def _unshipped(ledger: dict[str, Any]) -> dict[str, int]:
    """Line no. -> quantity the order still waits for, from its lines and the parcels shipped."""
    left = {line: int(spec["qty"]) for line, spec in (ledger.get("lines") or {}).items()}
    for parcel in (ledger.get("parcels") or {}).values():
        for line, qty in parcel["lines"].items():
            if line in left:
                left[line] -= int(qty)
    return {line: qty for line, qty in left.items() if qty > 0}


def _still_to_ship(ledger: dict[str, Any] | None, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The parcel's lines capped at what the order still waits for (a parcel reported twice
    under other lines, e.g. by the push and by the poll, does not ship twice)."""
    if ledger is None or not ledger.get("lines"):
        return [line for line in lines if line["qty"] > 0]  # an order the bridge did not upload
    left = _unshipped(ledger)
    by_sku: dict[str, list[str]] = {}
    for line_no, spec in ledger["lines"].items():
        by_sku.setdefault(spec["sku_id"], []).append(line_no)
    result = []
    for line in lines:
        # JST echoes our line no. as outer_oi_id; without it, the first open line of the SKU.
        candidates = [line["line"]] if line["line"] in left else [n for n in by_sku.get(line["sku_id"], []) if n in left]
        qty = line["qty"]
        for line_no in candidates:
            take = min(qty, left[line_no])
            if take > 0:
                result.append({"line": line_no, "sku_id": line["sku_id"], "qty": take})
                left[line_no] -= take
                qty -= take
    return result


def _once_at_store(call: Callable[[], Any]) -> Any:
    """A 店+ command under our business key. 店+ answering "this Idempotency-Key was used with
    another body" means the action was applied before (the key is the whole business action:
    a re-run after a crash may differ only in e.g. which of JST's times it carries)."""
    from types import SimpleNamespace

    from ..connectors.store.errors import PosIdempotencyConflict

    try:
        return call()
    except PosIdempotencyConflict:
        return SimpleNamespace(status="applied before", shipment_id=None)


def _carrier(tenant: "Tenant", lc_id: str):
    for mapping in tenant.logistics:
        if mapping.jst_lc_id == lc_id:
            return mapping
    raise ConfigurationError(f"JST carrier lc_id {lc_id!r} has no store carrier in tenant {tenant.ent_id}'s "
                             "logistics mapping; add it (o2o tenant put) and replay the dead letter")


# --- S2c: JST cancelled -----------------------------------------------------------------


@kit.flow_command("s2.cancel_store_order")
def cancel_store_order(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    so_id = payload["so_id"]
    ledger = _record(ctx, ORDER_KIND, so_id) or {}
    if ledger.get("cancelled_by") == "store":
        # JST echoes the cancel the store itself asked for: the store order is cancelled already.
        return {"outcome": "already_cancelled"}

    def cancel() -> dict[str, Any]:
        done = _once_at_store(lambda: ctx.store.cancel_order(so_id, payload["remark"] or "聚水潭取消订单",
                                                             business_key=so_id))
        _change_record(ctx, ORDER_KIND, so_id, lambda data: data.setdefault("cancelled_by", "jst"))
        return {"status": done.status}

    outcome = kit.effect_once(ctx, f"s2.store-cancel:{so_id}", cancel, ttl_days=RECORD_TTL_DAYS)
    if outcome.repeated:
        return {"outcome": "repeated"}
    ctx.timeline.record(so_id, ctx.ent_id, "s2.cancelled_at_store", {"remark": payload["remark"]})
    ctx.metric("WarehouseOrderCancelled", 1)
    return {"outcome": "cancelled", **outcome.result}


# --- S2r: the warehouse received (or un-received) the return -------------------------------


@kit.flow_command("s2.record_return_receipt")
def record_return_receipt(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    from ..connectors.store import models as pos

    return_no, action = payload["return_no"], payload["action"]
    ret = _record(ctx, RETURN_KIND, return_no) or {}
    received = ret.get("receipt") == "received"
    if (action == "confirm") == received:
        # 确认收货 of a received return, or 取消收货 of one not received: nothing changes.
        return {"outcome": "repeated"}
    # Each confirm/cancel pair is one generation: a repeat of the same message has the same
    # key; a re-receipt after a cancel is a new effect.
    generation = int(ret.get("generation", 0))
    key = f"{return_no}:{action}:{generation}"
    items = payload.get("items") or ret.get("items") or []
    if not items:
        raise PermanentError(f"return {return_no}: JST sent no lines and the bridge does not know the return's lines")

    def receive() -> dict[str, Any]:
        receipt = pos.ReturnReceipt(action=action, received_at=from_jst_text(payload.get("received_at")) or ctx.now(),
                                    items=[pos.SkuQty(sku_id=i["sku_id"], qty=i["qty"]) for i in items])
        done = _once_at_store(lambda: ctx.store.receive_return(return_no, receipt, business_key=key))

        def apply(data: dict[str, Any]) -> None:
            if int(data.get("generation", 0)) != generation or (data.get("receipt") == "received") != received:
                return  # applied by the first run of this same effect
            data["receipt"] = "received" if action == "confirm" else None
            if action == "cancel":
                data["generation"] = generation + 1

        _change_record(ctx, RETURN_KIND, return_no, apply)
        return {"status": done.status, "action": action}

    outcome = kit.effect_once(ctx, f"s2.return-receipt:{key}", receive, ttl_days=RECORD_TTL_DAYS)
    if outcome.repeated:
        return {"outcome": "repeated"}
    ctx.timeline.record(return_no, ctx.ent_id, f"s2.return_{'received' if action == 'confirm' else 'unreceived'}",
                        {**outcome.result, "source": payload.get("source")})
    return {"outcome": "received" if action == "confirm" else "unreceived", **outcome.result}


# =====================================================================================
# S2x: pushes JST never delivered (functions/poll_jst_documents, every 15 min)
# =====================================================================================


def recover_missed_pushes(ctx: kit.FlowContext) -> dict[str, Any]:
    """Shipments and return receipts JST shows but whose push the bridge never got; the same
    steps and effect keys as the callbacks, so whichever comes second changes nothing."""
    shop_id = ctx.tenant.jushuitan.self_mall_shop_id
    shipments = _recover(ctx, LOGISTICS_CURSOR,
                         lambda begin, end: ctx.jst.query_logistics(shop_id=shop_id, begin=begin, end=end),
                         _shipments_of_rows, record_shipment)
    receipts = _recover(ctx, RECEIVED_CURSOR,
                        lambda begin, end: ctx.jst.query_aftersale_received(begin=begin, end=end, shop_id=shop_id),
                        _receipts_of_rows, record_return_receipt)
    return {"shipments": shipments, "return_receipts": receipts}


def _recover(ctx: kit.FlowContext, cursor_name: str, fetch: Callable[[datetime, datetime], list[Any]],
             payloads_of: Callable[[kit.FlowContext, list[Any]], list[tuple[str, dict[str, Any] | None]]],
             step: kit.FlowStep) -> dict[str, Any]:
    cursor = ctx.cursors.get(ctx.ent_id, cursor_name)
    end = ctx.now()
    begin = (datetime.fromisoformat(cursor.value) if cursor else end - FIRST_LOOKBACK) - OVERLAP
    rows = fetch(begin, end)
    counts: Counter[str] = Counter()
    for trace_key, payload in payloads_of(ctx, rows):
        if ctx.time_left() < STOP_WHEN_SECONDS_LEFT:
            counts["stopped_early"] += 1
            break
        if payload is None:
            counts["not_ours"] += 1
            continue
        counts[settle(ctx, step, payload, trace_key=trace_key)["outcome"]] += 1
    else:
        # Moved only after every row is done, queued or dead-lettered; a lost race means another
        # run moved it, which is as good.
        ctx.cursors.advance(ctx.ent_id, cursor_name, end.isoformat(), cursor.version if cursor else None)
    return {"window": [begin.isoformat(timespec="seconds"), end.isoformat(timespec="seconds")],
            "rows": len(rows), **dict(sorted(counts.items()))}


def _shipments_of_rows(ctx: kit.FlowContext, rows: list[Any]) -> list[tuple[str, dict[str, Any] | None]]:
    found = []
    for row in sorted(rows, key=lambda r: r.ts):
        by_order: dict[str, list[dict[str, Any]]] = {}
        for item in row.items:
            by_order.setdefault(item.raw_so_id or row.so_id or "", []).append(
                {"line": item.outer_oi_id or item.sku_id, "sku_id": item.sku_id, "qty": _whole(item.qty)})
        for so_id, lines in by_order.items():
            if not (so_id and row.l_id and row.lc_id) or not _is_ours(ctx, so_id):
                found.append((so_id, None))
                continue
            found.append((so_id, {"so_id": so_id, "l_id": row.l_id, "lc_id": row.lc_id,
                                  "logistics_company": row.logistics_company, "send_date": row.send_date,
                                  "lines": lines, "source": "S2x"}))
    return found


def _receipts_of_rows(ctx: kit.FlowContext, rows: list[Any]) -> list[tuple[str, dict[str, Any] | None]]:
    # The latest receipt document of each return says its state now (a confirm, cancel,
    # re-confirm history is one "received").
    latest: dict[str, Any] = {}
    found: list[tuple[str, dict[str, Any] | None]] = []
    for row in sorted(rows, key=lambda r: r.ts):
        return_no = row.outer_as_id or _return_no_of(ctx, row.as_id)
        if return_no is None or _record(ctx, RETURN_KIND, return_no) is None:
            found.append((str(row.as_id or row.io_id), None))
            continue
        latest[return_no] = row
    for return_no, row in latest.items():
        action = {"Confirmed": "confirm", "Cancelled": "cancel"}.get(row.status or "")
        if action is None:
            continue
        found.append((return_no, {"return_no": return_no, "so_id": row.so_id, "as_id": row.as_id, "action": action,
                                  "received_at": row.io_date,
                                  "items": _merge_skus((i.sku_id, _whole(i.qty)) for i in row.items),
                                  "source": "S2x"}))
    return found


def _is_ours(ctx: kit.FlowContext, so_id: str) -> bool:
    return (_record(ctx, ORDER_KIND, so_id) is not None
            or ctx.links.find(ctx.ent_id, STORE_ORDER, so_id, JST_ORDER) is not None)


def _return_no_of(ctx: kit.FlowContext, as_id: Any) -> str | None:
    if as_id is None:
        return None
    link = ctx.links.find(ctx.ent_id, JST_AFTERSALE, str(as_id), STORE_RETURN)
    return link.other_key if link else None


# =====================================================================================
# helpers
# =====================================================================================


def _remember_order(ctx: kit.FlowContext, order: Any, *, o_id: str | None = None) -> None:
    """The order's ledger: its lines (what a parcel may still ship) and its JST o_id."""
    def change(data: dict[str, Any]) -> None:
        data.setdefault("lines", {line.line_no: {"sku_id": line.sku_id, "qty": line.qty} for line in order.items})
        if o_id is not None:
            data["o_id"] = o_id

    _change_record(ctx, ORDER_KIND, order.order_no, change)


def _remember_return(ctx: kit.FlowContext, ret: Any, *, as_id: str | None = None) -> None:
    def change(data: dict[str, Any]) -> None:
        data.setdefault("order_no", ret.order_no)
        data.setdefault("items", _merge_skus((line.sku_id, line.qty) for line in ret.items))
        if as_id is not None:
            data["as_id"] = as_id

    _change_record(ctx, RETURN_KIND, ret.return_no, change)


def _record(ctx: kit.FlowContext, kind: str, key: str) -> dict[str, Any] | None:
    found = ctx.records.get(ctx.ent_id, kind, key)
    return found.data if found else None


def _change_record(ctx: kit.FlowContext, kind: str, key: str, change: Callable[[dict[str, Any]], Any],
                   attempts: int = 8) -> dict[str, Any]:
    """Read-modify-write with a version check, so concurrent Lambdas never lose an update."""
    for _ in range(attempts):
        current = ctx.records.get(ctx.ent_id, kind, key)
        data = copy.deepcopy(current.data) if current else {}
        change(data)
        if current is not None and data == current.data:
            return data
        if ctx.records.put(ctx.ent_id, kind, key, data, expected_version=current.version if current else None,
                           ttl_days=RECORD_TTL_DAYS) is not None:
            return data
    raise TransientError(f"{kind} {key} is being changed by other workers; try again", retry_after_seconds=1)


def _o_id_of(ctx: kit.FlowContext, order_no: str) -> str | None:
    link = ctx.links.find(ctx.ent_id, STORE_ORDER, order_no, JST_ORDER)
    if link is not None:
        return link.other_key
    return (_record(ctx, ORDER_KIND, order_no) or {}).get("o_id")


def _o_id_in_jst(ctx: kit.FlowContext, so_id: str) -> int:
    orders = ctx.jst.query_orders(shop_id=ctx.tenant.jushuitan.self_mall_shop_id, so_ids=[so_id])
    if not orders:
        raise TransientError(f"JST says order {so_id} exists but does not list it yet")
    return orders[0].o_id


def _row_for(rows: list[Any], key: str, key_of: Callable[[Any], Any]) -> Any:
    row = next((r for r in rows if str(key_of(r) or "") == key), None)
    if row is None and len(rows) == 1:
        row = rows[0]
    if row is None:
        raise TransientError(f"JST's upload answer has no row for {key}")
    return row


def _already_there(msg: str | None) -> bool:
    return bool(msg) and any(word in msg for word in ("已存在", "重复", "已确认"))


def _merge_skus(pairs: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    merged: dict[str, int] = {}
    for sku_id, qty in pairs:
        if qty > 0:
            merged[sku_id] = merged.get(sku_id, 0) + int(qty)
    return [{"sku_id": sku_id, "qty": qty} for sku_id, qty in merged.items()]


def _whole(qty: Any) -> int:
    return int(Decimal(str(qty)))


