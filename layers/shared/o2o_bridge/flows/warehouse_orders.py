"""S2 / Q1: store and micro-mall orders the warehouse fulfils (线下订单线上发货, 缺货订单仓发),
over the Warehouse port (ports/warehouse.py): JST's 自有商城 shop today, a 奇门 WMS the same way.

The store side asks, the warehouse answers, a schedule catches what the answers missed:

- ``order.warehouse_requested`` → ``warehouse.submit_order``; store order no. ↔ the
  warehouse's order id linked.
- ``order.cancelled`` (the store cancelled) → ``warehouse.cancel_order``.
- ``return.requested`` → ``warehouse.submit_return``.
- What the warehouse did enters ONE function, ``take_confirmations``: a parcel shipped (S2d)
  → P3, once per parcel (order no., tracking no., lines), partial shipments adding up in the
  order's ledger so nothing ships twice; the warehouse cancelled (S2c) → P4; a return received
  or un-received (S2r) → P5.
- Confirmations come from ``recheck`` (a push named documents: they are re-read from the
  warehouse's own API, so a forged or replayed push can cause a re-read, never an effect),
  from ``recover_missed_pushes`` (S2x, every 15 min, overlapping windows), or from a
  warehouse that signs its confirmations itself. The same steps and effect keys serve all,
  so a parcel seen twice is one effect.

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

from ..errors import PermanentError, TransientError
from ..ports import DocumentLink
from ..ports.warehouse import (OrderCancelled, OrderLine, Receiver, ReturnReceived, ReturnRequest, Shipment,
                               StoreOrder, WarehouseRefused)
from ..shanghai_time import from_jst_text, to_jst_text
from . import cash_on_delivery, kit, ledger_facts

if TYPE_CHECKING:
    from ..tenant import Tenant


# Flow state (RecordRepository kinds), links and cursors of this scenario.
ORDER_KIND = "s2.order"      # per store order: its lines, JST o_id, parcels shipped, cancelled by whom
RETURN_KIND = "s2.return"    # per store return: its lines, JST as_id, receipt state
STORE_ORDER, STORE_RETURN = "store_order", "store_return"
LOGISTICS_CURSOR = "s2x.logistics"
RECEIVED_CURSOR = "s2x.aftersale_received"

# S2x windows: each run starts this long before the previous run's end, so a record whose
# send/modified time lands at a window edge (or is written late) is seen at least once.
OVERLAP = timedelta(minutes=30)
FIRST_LOOKBACK = timedelta(days=1)
# Stop a scan early (cursor not advanced) when the Lambda has less than this left.
STOP_WHEN_SECONDS_LEFT = 20.0
RECORD_TTL_DAYS = 400



def warehouse_order(ctx: kit.FlowContext) -> str:
    """The link kind of the warehouse's order ids: "jst_order" for JST (its stored links keep that name)."""
    return f"{ctx.warehouse.info.system}_order"


def warehouse_return(ctx: kit.FlowContext) -> str:
    return f"{ctx.warehouse.info.system}_aftersale"


# =====================================================================================
# Store events (o2o_bridge.events.routes)
# =====================================================================================


def on_order_warehouse_requested(event: Any, tenant: "Tenant") -> None:
    """S2: the warehouse is to ship the store order."""
    ctx = kit.context_for(tenant)
    order = event.data
    ctx.timeline.record(order.order_no, ctx.ent_id, "s2.warehouse_requested",
                        {"lines": len(order.items), "pay_amount": str(order.pay_amount)})
    if kit.attempt(ctx, upload_order, {"order": order.model_dump(mode="json")}, trace_key=order.order_no) is None:
        # Queued for retry: remember the order now, so a cancel arriving first waits for it.
        _remember_order(ctx, order)


def on_order_cancelled(event: Any, tenant: "Tenant") -> None:
    """S2: the store cancelled an order it had sent to the warehouse: cancel it there."""
    ctx = kit.context_for(tenant)
    order_no = event.data.order_no
    ledger = _record(ctx, ORDER_KIND, order_no)
    if ledger is None and ctx.links.find(ctx.ent_id, STORE_ORDER, order_no, warehouse_order(ctx)) is None:
        ctx.timeline.record(order_no, ctx.ent_id, "s2.cancel_ignored", {"why": "not an order sent to the warehouse"})
        return
    kit.attempt(ctx, cancel_in_warehouse, {"order_no": order_no, "reason": event.data.reason}, trace_key=order_no)


def on_return_requested(event: Any, tenant: "Tenant") -> None:
    """S2r: the customer returns goods of a warehouse-shipped order to the warehouse."""
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
    receiver = order.receiver
    accepted = ctx.warehouse.submit_order(StoreOrder(
        order_no=order.order_no, paid_at=order.paid_at, pay_amount=order.pay_amount, freight=order.freight,
        receiver=Receiver(name=receiver.name, mobile=receiver.mobile, province=receiver.province, city=receiver.city,
                          district=receiver.district, address=receiver.address),
        lines=tuple(OrderLine(line_no=line.line_no, sku_id=line.sku_id, qty=line.qty, price=line.price,
                              amount=line.amount, name=line.name) for line in order.items),
        cod_amount=order.cod.amount if order.cod is not None else None))
    o_id = accepted.warehouse_order_id
    ctx.links.link(DocumentLink(ctx.ent_id, STORE_ORDER, order.order_no, warehouse_order(ctx), o_id))
    _remember_order(ctx, order, o_id=o_id)
    cash_on_delivery.expect_for_store_order(ctx, order)  # 货到付款: the courier collects the COD part
    # "o_id": the warehouse's order id (JST's o_id), the name stored effects already carry.
    return {"o_id": o_id, "warehouse": ctx.warehouse.info.system}


# The command keeps its first name: queued retries and dead letters refer to it.
@kit.flow_command("s2.cancel_in_jst")
def cancel_in_warehouse(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    order_no, reason = payload["order_no"], payload["reason"]
    ledger = _record(ctx, ORDER_KIND, order_no) or {}
    if ledger.get("refused"):
        ctx.timeline.record(order_no, ctx.ent_id, "s2.cancel_ignored", {"why": "the warehouse refused the order"})
        return {"outcome": "not_in_jst"}
    o_id = _o_id_of(ctx, order_no)
    if o_id is None:
        # The upload is still waiting for its retry: cancel after it.
        raise TransientError(f"store order {order_no} is not in the warehouse yet; its cancel waits for the upload",
                             retry_after_seconds=30)

    def cancel() -> dict[str, Any]:
        ctx.warehouse.cancel_order(order_no, o_id, reason)
        _change_record(ctx, ORDER_KIND, order_no, lambda data: data.update(cancelled_by="store"))
        return {"o_id": o_id}

    # The effect and timeline names say "jst": stored effects of running orders carry them.
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
    accepted = ctx.warehouse.submit_return(ReturnRequest(
        return_no=ret.return_no, order_no=ret.order_no, kind=ret.type,
        lines=tuple(OrderLine(line_no=line.line_no, sku_id=line.sku_id, qty=line.qty, amount=line.amount)
                    for line in ret.items)))
    as_id = accepted.warehouse_return_id
    if as_id:
        ctx.links.link(DocumentLink(ctx.ent_id, STORE_RETURN, ret.return_no, warehouse_return(ctx), as_id))
    _remember_return(ctx, ret, as_id=as_id)
    return {"as_id": as_id}


# =====================================================================================
# What the warehouse did: one way in, whoever tells
# =====================================================================================


def take_confirmations(ctx: kit.FlowContext, confirmations: Iterable[Any], *, source: str) -> list[dict[str, Any]]:
    """Shipments, cancels and return receipts the warehouse holds, each settled (done, queued,
    or parked with its reason). ``source`` says who told (push, S2x, confirm) for the timeline."""
    results = []
    for confirmation in confirmations:
        trace_key, step, payload = _step_for(ctx, confirmation, source)
        results.append(settle(ctx, step, payload, trace_key=trace_key))
    return results


def _step_for(ctx: kit.FlowContext, confirmation: Any, source: str) -> tuple[str, kit.FlowStep, dict[str, Any]]:
    if isinstance(confirmation, Shipment):
        return confirmation.order_no, record_shipment, {
            "so_id": confirmation.order_no, "l_id": confirmation.tracking_no, "lc_id": confirmation.carrier_code,
            "logistics_company": confirmation.carrier_name,
            "send_date": confirmation.shipped_at or to_jst_text(ctx.now()),
            "lines": [{"line": line.line_no, "sku_id": line.sku_id, "qty": line.qty} for line in confirmation.lines],
            "source": source}
    if isinstance(confirmation, OrderCancelled):
        return confirmation.order_no, cancel_store_order, {"so_id": confirmation.order_no, "remark": confirmation.remark}
    if isinstance(confirmation, ReturnReceived):
        return confirmation.return_no, record_return_receipt, {
            "return_no": confirmation.return_no, "so_id": confirmation.order_no,
            "as_id": confirmation.warehouse_return_id, "action": "confirm" if confirmation.received else "cancel",
            "received_at": confirmation.received_at or to_jst_text(ctx.now()),
            "items": [{"sku_id": i.sku_id, "qty": i.qty} for i in confirmation.items], "source": source}
    raise TypeError(f"not a warehouse confirmation: {confirmation!r}")


def recheck_shipments(ctx: kit.FlowContext, order_nos: Iterable[str], tracking_nos: Iterable[str] = (), *,
                      source: str = "push") -> list[dict[str, Any]]:
    """A push said these orders shipped (S2d): what the warehouse holds for them is taken, only
    the parcels named (``tracking_nos``) when given."""
    return _recheck(ctx, {"what": "shipments", "order_nos": sorted(set(order_nos)),
                          "tracking_nos": sorted(set(tracking_nos)), "source": source})


def recheck_cancels(ctx: kit.FlowContext, order_nos: Iterable[str], *, source: str = "push") -> list[dict[str, Any]]:
    """A push said these orders were cancelled (S2c): those the warehouse holds cancelled are."""
    return _recheck(ctx, {"what": "cancels", "order_nos": sorted(set(order_nos)), "source": source})


def recheck_receipts(ctx: kit.FlowContext, return_nos: Iterable[str], *, order_nos: Iterable[str] = (),
                     warehouse_return_ids: Iterable[str] = (), source: str = "push") -> list[dict[str, Any]]:
    """A push said these returns were received or un-received (S2r): the latest receipt the
    warehouse holds for each decides."""
    return _recheck(ctx, {"what": "receipts", "return_nos": sorted(set(return_nos)),
                          "order_nos": sorted(set(order_nos)),
                          "warehouse_return_ids": sorted({str(i) for i in warehouse_return_ids}), "source": source})


def _recheck(ctx: kit.FlowContext, payload: dict[str, Any]) -> list[dict[str, Any]]:
    # A re-read that fails transiently is queued (the push is then acknowledged: its news is
    # durably waiting), like any step.
    keys = payload.get("return_nos") or payload["order_nos"]
    done = kit.attempt(ctx, recheck, payload, trace_key=keys[0] if keys else "s2.recheck")
    return done if done is not None else [{"outcome": "queued"}]


@kit.flow_command("s2.recheck")
def recheck(ctx: kit.FlowContext, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Re-read the documents a push named and take what the warehouse holds."""
    what, source = payload["what"], payload.get("source", "push")
    if what == "shipments":
        named = set(payload.get("tracking_nos") or ())
        found: list[Any] = [s for s in ctx.warehouse.shipments_of(payload["order_nos"])
                            if not named or s.tracking_no in named]
        keys, why = payload["order_nos"], "the warehouse holds no such parcel"
    elif what == "cancels":
        found = ctx.warehouse.cancelled_of(payload["order_nos"])
        keys, why = payload["order_nos"], "the warehouse does not hold the order cancelled"
    else:
        wanted = set(payload["return_nos"])
        latest: dict[str, ReturnReceived] = {}
        for receipt in ctx.warehouse.receipts_of(order_nos=payload["order_nos"],
                                                 warehouse_return_ids=payload["warehouse_return_ids"]):
            return_no = receipt.return_no or _return_no_of(ctx, receipt.warehouse_return_id)
            if return_no in wanted:
                latest[return_no] = _with_return_no(receipt, return_no)
        found = list(latest.values())
        keys, why = sorted(wanted), "the warehouse holds no receipt of it"
    if not found:
        for key in keys:
            ctx.timeline.record(key, ctx.ent_id, "s2.push_unconfirmed", {"why": why, "source": source},
                                level="warning")
    return take_confirmations(ctx, found, source=source)


def _with_return_no(receipt: ReturnReceived, return_no: str) -> ReturnReceived:
    from dataclasses import replace

    return receipt if receipt.return_no == return_no else replace(receipt, return_no=return_no)


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
    recorded = ((ledger or {}).get("parcels") or {}).get(key)
    if recorded is not None:
        # This parcel's P3 was made and booked by a run that died before its "done": finish that
        # effect (the same Idempotency-Key: 店+ answers, nothing ships twice).
        return _finish_shipment(ctx, payload, key, effect, ledger, recorded)
    if ledger is not None and ledger.get("lines") and not _unshipped(ledger):
        ctx.timeline.record(so_id, ctx.ent_id, "s2.shipment_ignored",
                            {"l_id": l_id, "why": "the order is already fully shipped", "source": payload["source"]})
        return {"outcome": "already_shipped"}
    to_ship = _still_to_ship(ledger, payload["lines"])
    if not to_ship:
        ctx.timeline.record(so_id, ctx.ent_id, "s2.shipment_ignored",
                            {"l_id": l_id, "why": "its lines are shipped already", "source": payload["source"]})
        return {"outcome": "already_shipped"}
    carrier = ctx.warehouse.store_carrier(payload["lc_id"])

    def ship() -> dict[str, Any]:
        shipment = pos.Shipment(
            # The port's carrier name is optional: then the warehouse's own name of it, or its code.
            carrier_code=carrier.code, carrier_name=carrier.name or payload.get("logistics_company") or carrier.code,
            tracking_no=l_id,
            shipped_at=from_jst_text(payload.get("send_date")) or ctx.now(),
            items=[pos.SkuQty(sku_id=s["sku_id"], qty=s["qty"]) for s in _merge_skus(
                (line["sku_id"], line["qty"]) for line in to_ship)])
        done = _once_at_store(lambda: ctx.store.ship_order(so_id, shipment, business_key=key))
        ledger_facts.store_order_shipped(ctx, so_id=so_id, shipment_key=key, lines=to_ship, at=shipment.shipped_at)
        cash_on_delivery.store_order_shipped(ctx, so_id, at=shipment.shipped_at)  # a COD part is with the courier
        _change_record(ctx, ORDER_KIND, so_id, lambda data: data.setdefault("parcels", {}).setdefault(
            key, {"l_id": l_id, "lines": {line["line"]: line["qty"] for line in to_ship}}))
        return {"shipment_id": getattr(done, "shipment_id", None), "status": done.status, "l_id": l_id,
                "carrier": carrier.code, "lines": {line["line"]: line["qty"] for line in to_ship}}

    return _shipped(ctx, payload, kit.effect_once(ctx, effect, ship, ttl_days=RECORD_TTL_DAYS))


def _shipped(ctx: kit.FlowContext, payload: dict[str, Any], outcome: kit.Outcome) -> dict[str, Any]:
    if outcome.repeated:
        return {"outcome": "repeated"}
    ctx.timeline.record(payload["so_id"], ctx.ent_id, "s2.shipped", {**outcome.result, "source": payload["source"]})
    ctx.metric("WarehouseOrderShipped", 1)
    return {"outcome": "shipped", **outcome.result}


def _finish_shipment(ctx: kit.FlowContext, payload: dict[str, Any], key: str, effect: str,
                     ledger: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    from ..connectors.store import models as pos

    carrier = ctx.warehouse.store_carrier(payload["lc_id"])
    sku_of = {line["line"]: line["sku_id"] for line in payload["lines"]}
    sku_of.update({line: spec["sku_id"] for line, spec in (ledger.get("lines") or {}).items()})
    lines = {line: int(qty) for line, qty in recorded["lines"].items()}

    def ship() -> dict[str, Any]:
        shipment = pos.Shipment(
            carrier_code=carrier.code, carrier_name=carrier.name, tracking_no=payload["l_id"],
            shipped_at=from_jst_text(payload.get("send_date")) or ctx.now(),
            items=[pos.SkuQty(sku_id=s["sku_id"], qty=s["qty"]) for s in _merge_skus(
                (sku_of.get(line, line), qty) for line, qty in lines.items())])
        done = _once_at_store(lambda: ctx.store.ship_order(payload["so_id"], shipment, business_key=key))
        return {"shipment_id": getattr(done, "shipment_id", None), "status": done.status, "l_id": payload["l_id"],
                "carrier": carrier.code, "lines": lines}

    return _shipped(ctx, payload, kit.effect_once(ctx, effect, ship, ttl_days=RECORD_TTL_DAYS))


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


# --- S2c: the warehouse cancelled -----------------------------------------------------------------


@kit.flow_command("s2.cancel_store_order")
def cancel_store_order(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    so_id = payload["so_id"]
    ledger = _record(ctx, ORDER_KIND, so_id) or {}
    if ledger.get("cancelled_by") == "store":
        # JST echoes the cancel the store itself asked for: the store order is cancelled already.
        return {"outcome": "already_cancelled"}

    def cancel() -> dict[str, Any]:
        done = _once_at_store(lambda: ctx.store.cancel_order(so_id, payload["remark"] or "仓库取消订单",
                                                             business_key=so_id))
        ledger_facts.store_order_cancelled(ctx, so_id=so_id, reason=payload["remark"], at=payload.get("at"))
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
    # Each confirm/cancel pair is one generation: a repeat of the same message has the same
    # key; a re-receipt after a cancel is a new effect.
    generation = int(ret.get("generation", 0))
    if (action == "confirm") == received:
        # 确认收货 of a received return, or 取消收货 of one not received: nothing changes — unless
        # the run that booked this very change died before its "done": then that effect is finished.
        booked = generation if action == "confirm" else generation - 1
        claim = ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, f"s2.return-receipt:{return_no}:{action}:{booked}")
        if booked < 0 or claim is None or claim.data.get("state") == "done":
            return {"outcome": "repeated"}
        generation, received = booked, not received
    key = f"{return_no}:{action}:{generation}"
    items = payload.get("items") or ret.get("items") or []
    if not items:
        raise PermanentError(f"return {return_no}: JST sent no lines and the bridge does not know the return's lines")

    def receive() -> dict[str, Any]:
        receipt = pos.ReturnReceipt(action=action, received_at=from_jst_text(payload.get("received_at")) or ctx.now(),
                                    items=[pos.SkuQty(sku_id=i["sku_id"], qty=i["qty"]) for i in items])
        done = _once_at_store(lambda: ctx.store.receive_return(return_no, receipt, business_key=key))
        ledger_facts.store_order_returned(ctx, return_no=return_no, order_no=ret.get("order_no"), key=key,
                                          items=items, action=action, at=receipt.received_at)

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
# S2x: news the pushes never brought (functions/poll_jst_documents, every 15 min)
# =====================================================================================


def recover_missed_pushes(ctx: kit.FlowContext) -> dict[str, Any]:
    """Shipments and return receipts the warehouse shows but no push announced; the same steps
    and effect keys as the pushes, so whichever comes second changes nothing."""
    shipments = _recover(ctx, LOGISTICS_CURSOR, ctx.warehouse.shipments_between, _shipments_to_take, record_shipment)
    receipts = _recover(ctx, RECEIVED_CURSOR, ctx.warehouse.receipts_between, _receipts_to_take,
                        record_return_receipt)
    return {"shipments": shipments, "return_receipts": receipts}


def _recover(ctx: kit.FlowContext, cursor_name: str, fetch: Callable[[datetime, datetime], list[Any]],
             to_take: Callable[[kit.FlowContext, list[Any]], list[Any]], step: kit.FlowStep) -> dict[str, Any]:
    cursor = ctx.cursors.get(ctx.ent_id, cursor_name)
    end = ctx.now()
    begin = (datetime.fromisoformat(cursor.value) if cursor else end - FIRST_LOOKBACK) - OVERLAP
    rows = fetch(begin, end)
    counts: Counter[str] = Counter()

    def take(confirmation: Any) -> str:
        if confirmation is None:
            return "not_ours"
        return take_confirmations(ctx, [confirmation], source="S2x")[0]["outcome"]

    # A confirmation that fails other than by a refusal (which settle parks) is set aside too,
    # and the scan goes on with the ones behind it.
    kit.each_record(ctx, to_take(ctx, rows), take, step=step,
                    payload_of=lambda confirmation: _step_for(ctx, confirmation, "S2x")[2],
                    trace_key_of=lambda confirmation: _step_for(ctx, confirmation, "S2x")[0],
                    counts=counts, stop=lambda: ctx.time_left() < STOP_WHEN_SECONDS_LEFT)
    if not counts["stopped_early"]:
        # Moved only after every row is done, queued or set aside (parked with its reason); a
        # lost race means another run moved it, which is as good.
        ctx.cursors.advance(ctx.ent_id, cursor_name, end.isoformat(), cursor.version if cursor else None)
    return {"window": [begin.isoformat(timespec="seconds"), end.isoformat(timespec="seconds")],
            "rows": len(rows), **dict(sorted((k, v) for k, v in counts.items() if v))}


def _shipments_to_take(ctx: kit.FlowContext, shipments: list[Shipment]) -> list[Shipment | None]:
    return [s if s.order_no and s.tracking_no and s.carrier_code and _is_ours(ctx, s.order_no) else None
            for s in shipments]


def _receipts_to_take(ctx: kit.FlowContext, receipts: list[ReturnReceived]) -> list[ReturnReceived | None]:
    # The latest receipt of each return says its state now (a confirm, cancel, re-confirm
    # history is one "received").
    latest: dict[str, ReturnReceived] = {}
    found: list[ReturnReceived | None] = []
    for receipt in receipts:
        return_no = receipt.return_no or _return_no_of(ctx, receipt.warehouse_return_id)
        if not return_no or _record(ctx, RETURN_KIND, return_no) is None:
            found.append(None)
            continue
        latest[return_no] = _with_return_no(receipt, return_no)
    return found + list(latest.values())


def _is_ours(ctx: kit.FlowContext, so_id: str) -> bool:
    return (_record(ctx, ORDER_KIND, so_id) is not None
            or ctx.links.find(ctx.ent_id, STORE_ORDER, so_id, warehouse_order(ctx)) is not None)


def _return_no_of(ctx: kit.FlowContext, as_id: Any) -> str | None:
    if as_id is None:
        return None
    link = ctx.links.find(ctx.ent_id, warehouse_return(ctx), str(as_id), STORE_RETURN)
    return link.other_key if link else None


# =====================================================================================
# helpers
# =====================================================================================


def _remember_order(ctx: kit.FlowContext, order: Any, *, o_id: str | None = None) -> None:
    """The order's ledger: its lines (what a parcel may still ship) and the warehouse's order id."""
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
    link = ctx.links.find(ctx.ent_id, STORE_ORDER, order_no, warehouse_order(ctx))
    if link is not None:
        return link.other_key
    return (_record(ctx, ORDER_KIND, order_no) or {}).get("o_id")


def _merge_skus(pairs: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    merged: dict[str, int] = {}
    for sku_id, qty in pairs:
        if qty > 0:
            merged[sku_id] = merged.get(sku_id, 0) + int(qty)
    return [{"sku_id": sku_id, "qty": qty} for sku_id, qty in merged.items()]
