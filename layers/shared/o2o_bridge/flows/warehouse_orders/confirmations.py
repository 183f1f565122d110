"""S2: what the warehouse did with the store's orders and returns, taken once whoever tells.

``take_confirmations`` is the one way in: a parcel shipped (S2d) → P3, once per parcel (order
no., tracking no., lines) and never more than the order still waits for; the warehouse
cancelled (S2c) → P4; a return received or un-received (S2r) → P5. The confirmations come
from a push's re-read (``recheck_*``: a push only names documents), from the S2x poll
(missed.py), or from a warehouse that signs its confirmations itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any, Callable, Iterable

from ...errors import PermanentError
from ...ports.warehouse import OrderCancelled, ReturnReceived, Shipment
from ...shanghai_time import from_jst_text, to_jst_text
from .. import cash_on_delivery, kit, ledger_facts
from .ledger import ORDER_KIND, ORDERS, RECORD_TTL_DAYS, RETURN_KIND, RETURNS, OrderLedger, ReturnLedger, merge_skus
from .requests import STORE_RETURN, warehouse_return


def return_no_of(ctx: kit.FlowContext, as_id: Any) -> str | None:
    """The store's return no. of the warehouse's return id (their link)."""
    if as_id is None:
        return None
    link = ctx.links.find(ctx.ent_id, warehouse_return(ctx), str(as_id), STORE_RETURN)
    return link.other_key if link else None


def take_confirmations(ctx: kit.FlowContext, confirmations: Iterable[Any], *, source: str) -> list[dict[str, Any]]:
    """Shipments, cancels and return receipts the warehouse holds, each settled (done, queued,
    or parked with its reason). ``source`` says who told (push, S2x, confirm) for the timeline."""
    results = []
    for confirmation in confirmations:
        trace_key, step, payload = step_for(ctx, confirmation, source)
        results.append(settle(ctx, step, payload, trace_key=trace_key))
    return results


def step_for(ctx: kit.FlowContext, confirmation: Any, source: str) -> tuple[str, kit.FlowStep, dict[str, Any]]:
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
    if payload["what"] == "cancels" and _cancelled_at_store_already(ctx, payload["order_nos"]):
        return [{"outcome": "repeated"} for _ in payload["order_nos"]]
    keys = payload.get("return_nos") or payload["order_nos"]
    done = kit.attempt(ctx, recheck, payload, trace_key=keys[0] if keys else "s2.recheck")
    return done if done is not None else [{"outcome": "queued"}]


def _cancelled_at_store_already(ctx: kit.FlowContext, order_nos: list[str]) -> bool:
    """A repeated cancel push: every order it names was cancelled at the store already, so JST
    need not be read again. Read in one request with what the cancel step reads first (its parked
    marker, its effect, the order's ledger): a push that is news costs no more than before."""
    reads: list[tuple[str, str]] = []
    for so_id in order_nos:
        named = {"so_id": so_id}
        reads += [kit.parked_record(cancel_store_order, named, CANCEL_IDENTITY_IGNORES),
                  *_first_reads(cancel_store_order, named)]
    ctx.records.prefetch(ctx.ent_id, reads)
    return bool(order_nos) and all(kit.effect_done(ctx, f"s2.store-cancel:{so_id}") for so_id in order_nos)


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
        # The warehouse's own return ids name the receipts; the orders only when it gave none
        # (each is a query of its own, and an order's receipts are those of its returns).
        ids = payload["warehouse_return_ids"]
        for receipt in ctx.warehouse.receipts_of(order_nos=[] if ids else payload["order_nos"],
                                                 warehouse_return_ids=ids):
            return_no = receipt.return_no or return_no_of(ctx, receipt.warehouse_return_id)
            # No return named (the replay of a receipt row S2x could not read): the order's returns.
            if return_no in wanted or (not wanted and return_no and RETURNS.exists(ctx, return_no)):
                latest[return_no] = with_return_no(receipt, return_no)
        found = list(latest.values())
        keys, why = sorted(wanted) or payload["order_nos"], "the warehouse holds no receipt of it"
    if not found:
        for key in keys:
            ctx.timeline.record(key, ctx.ent_id, "s2.push_unconfirmed", {"why": why, "source": source},
                                level="warning")
    return take_confirmations(ctx, found, source=source)


def with_return_no(receipt: ReturnReceived, return_no: str) -> ReturnReceived:
    return receipt if receipt.return_no == return_no else replace(receipt, return_no=return_no)


# A warehouse cancel is one per order whatever its remark says: its parked marker is known from
# the order no. alone, so a repeated push is decided before JST is read again.
CANCEL_IDENTITY_IGNORES = ("source", "remark")


def settle(ctx: kit.FlowContext, step: kit.FlowStep, payload: dict[str, Any], *, trace_key: str) -> dict[str, Any]:
    """A push or a polled record is settled (done, queued, or parked with its reason); the
    input's ``source`` is left out of its identity so push and poll park one letter."""
    ignores = CANCEL_IDENTITY_IGNORES if step is cancel_store_order else ("source",)
    return kit.settle(ctx, step, payload, trace_key=trace_key, identity_ignores=ignores,
                      reads=_first_reads(step, payload))


def _first_reads(step: kit.FlowStep, payload: dict[str, Any]) -> list[tuple[str, str]]:
    """The records a step reads before anything else, read together with its parked marker."""
    if step is record_shipment:
        effect = f"s2.shipment:{shipment_key(payload['so_id'], payload['l_id'], payload['lines'])}"
        # the COD record too: a shipment starts a COD part's overdue clock (absent for most orders)
        return [(kit.EFFECT_KIND, effect), (ORDER_KIND, payload["so_id"]),
                (cash_on_delivery.COD_KIND, cash_on_delivery.order_key(payload["so_id"]))]
    if step is cancel_store_order:
        return [(kit.EFFECT_KIND, f"s2.store-cancel:{payload['so_id']}"), (ORDER_KIND, payload["so_id"])]
    if step is record_return_receipt:
        return [(RETURN_KIND, payload["return_no"])]
    return []


# --- S2d: a parcel shipped ---------------------------------------------------------------


def shipment_key(so_id: str, l_id: str, lines: Iterable[dict[str, Any]]) -> str:
    """The business key of one parcel: (so_id, l_id, its lines) — the same from the push and the poll."""
    canonical = ",".join(sorted(f"{line['line']}|{line['sku_id']}|{line['qty']}" for line in lines))
    if len(canonical) > 120:
        canonical = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return f"{so_id}:{l_id}:{canonical}"


@kit.flow_command("s2.record_shipment")
def record_shipment(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    from ...connectors.store import models as pos

    so_id, l_id = payload["so_id"], payload["l_id"]
    key = shipment_key(so_id, l_id, payload["lines"])
    effect = f"s2.shipment:{key}"
    if kit.effect_done(ctx, effect):
        return {"outcome": "repeated"}
    ledger = ORDERS.get(ctx, so_id) or OrderLedger()
    recorded = ledger.parcels.get(key)
    if recorded is not None:
        # This parcel's P3 was made and booked by a run that died before its "done": finish that
        # effect (the same Idempotency-Key: 店+ answers, nothing ships twice).
        return _finish_shipment(ctx, payload, key, effect, ledger, recorded)
    if ledger.fully_shipped():
        ctx.timeline.record(so_id, ctx.ent_id, "s2.shipment_ignored",
                            {"l_id": l_id, "why": "the order is already fully shipped", "source": payload["source"]})
        return {"outcome": "already_shipped"}
    to_ship = ledger.still_to_ship(payload["lines"])
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
            items=[pos.SkuQty(sku_id=s["sku_id"], qty=s["qty"]) for s in merge_skus(
                (line["sku_id"], line["qty"]) for line in to_ship)])
        done = _once_at_store(lambda: ctx.store.ship_order(so_id, shipment, business_key=key))
        ledger_facts.store_order_shipped(ctx, so_id=so_id, shipment_key=key, lines=to_ship, at=shipment.shipped_at)
        cash_on_delivery.store_order_shipped(ctx, so_id, at=shipment.shipped_at)  # a COD part is with the courier
        ORDERS.change(ctx, so_id, OrderLedger.ship, key, l_id, to_ship)
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
                     ledger: OrderLedger, recorded: dict[str, Any]) -> dict[str, Any]:
    from ...connectors.store import models as pos

    carrier = ctx.warehouse.store_carrier(payload["lc_id"])
    sku_of = {line["line"]: line["sku_id"] for line in payload["lines"]}
    sku_of.update({line: spec["sku_id"] for line, spec in ledger.lines.items()})
    lines = {line: int(qty) for line, qty in recorded["lines"].items()}

    def ship() -> dict[str, Any]:
        shipment = pos.Shipment(
            carrier_code=carrier.code, carrier_name=carrier.name or payload.get("logistics_company") or carrier.code,
            tracking_no=payload["l_id"],
            shipped_at=from_jst_text(payload.get("send_date")) or ctx.now(),
            items=[pos.SkuQty(sku_id=s["sku_id"], qty=s["qty"]) for s in merge_skus(
                (sku_of.get(line, line), qty) for line, qty in lines.items())])
        done = _once_at_store(lambda: ctx.store.ship_order(payload["so_id"], shipment, business_key=key))
        return {"shipment_id": getattr(done, "shipment_id", None), "status": done.status, "l_id": payload["l_id"],
                "carrier": carrier.code, "lines": lines}

    return _shipped(ctx, payload, kit.effect_once(ctx, effect, ship, ttl_days=RECORD_TTL_DAYS))


def _once_at_store(call: Callable[[], Any]) -> Any:
    """A 店+ command under our business key. 店+ answering "this Idempotency-Key was used with
    another body" means the action was applied before (the key is the whole business action:
    a re-run after a crash may differ only in e.g. which of JST's times it carries)."""
    from types import SimpleNamespace

    from ...connectors.store.errors import PosIdempotencyConflict

    try:
        return call()
    except PosIdempotencyConflict:
        return SimpleNamespace(status="applied before", shipment_id=None)


# --- S2c: the warehouse cancelled -----------------------------------------------------------------


@kit.flow_command("s2.cancel_store_order")
def cancel_store_order(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    so_id = payload["so_id"]
    if kit.effect_done(ctx, f"s2.store-cancel:{so_id}"):  # read with the ledger (settle): a repeat asks no more
        return {"outcome": "repeated"}
    ledger = ORDERS.get(ctx, so_id)
    if ledger is not None and ledger.cancelled_by == "store":
        # JST echoes the cancel the store itself asked for: the store order is cancelled already.
        return {"outcome": "already_cancelled"}

    def cancel() -> dict[str, Any]:
        done = _once_at_store(lambda: ctx.store.cancel_order(so_id, payload["remark"] or "仓库取消订单",
                                                             business_key=so_id))
        ledger_facts.store_order_cancelled(ctx, so_id=so_id, reason=payload["remark"], at=payload.get("at"))
        ORDERS.change(ctx, so_id, OrderLedger.cancel_by_warehouse)
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
    from ...connectors.store import models as pos

    return_no, action = payload["return_no"], payload["action"]
    ret = RETURNS.get(ctx, return_no) or ReturnLedger()
    received = ret.received
    # Each confirm/cancel pair is one generation: a repeat of the same message has the same
    # key; a re-receipt after a cancel is a new effect.
    generation = ret.generation
    if (action == "confirm") == received:
        # 确认收货 of a received return, or 取消收货 of one not received: nothing changes — unless
        # the run that booked this very change died before its "done": then that effect is finished.
        booked = generation if action == "confirm" else generation - 1
        claim = ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, f"s2.return-receipt:{return_no}:{action}:{booked}")
        if booked < 0 or claim is None or claim.data.get("state") == "done":
            return {"outcome": "repeated"}
        generation, received = booked, not received
    key = f"{return_no}:{action}:{generation}"
    items = payload.get("items") or ret.items
    if not items:
        raise PermanentError(f"return {return_no}: the warehouse sent no lines and the bridge does not know the "
                             "return's lines")

    def receive() -> dict[str, Any]:
        receipt = pos.ReturnReceipt(action=action, received_at=from_jst_text(payload.get("received_at")) or ctx.now(),
                                    items=[pos.SkuQty(sku_id=i["sku_id"], qty=i["qty"]) for i in items])
        done = _once_at_store(lambda: ctx.store.receive_return(return_no, receipt, business_key=key))
        ledger_facts.store_order_returned(ctx, return_no=return_no, order_no=ret.order_no, key=key,
                                          items=items, action=action, at=receipt.received_at)

        # Applied once per generation: a re-run of this same effect changes nothing more.
        RETURNS.change(ctx, return_no, ReturnLedger.receive if action == "confirm" else ReturnLedger.unreceive,
                       generation)
        return {"status": done.status, "action": action}

    outcome = kit.effect_once(ctx, f"s2.return-receipt:{key}", receive, ttl_days=RECORD_TTL_DAYS)
    if outcome.repeated:
        return {"outcome": "repeated"}
    ctx.timeline.record(return_no, ctx.ent_id, f"s2.return_{'received' if action == 'confirm' else 'unreceived'}",
                        {**outcome.result, "source": payload.get("source")})
    return {"outcome": "received" if action == "confirm" else "unreceived", **outcome.result}
