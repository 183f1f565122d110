"""S2: what the warehouse did with the store's orders and returns, taken once whoever tells.

``take_confirmations`` is the one way in: a parcel shipped (S2d) → P3, once per parcel (order
no., tracking no., lines) and never more than the order still waits for; the warehouse
cancelled (S2c) → P4; a return received or un-received (S2r) → P5. The confirmations come
from a push's re-read (``recheck_*``: a push only names documents), from the S2x poll
(missed.py), or from a warehouse that signs its confirmations itself.
"""

from __future__ import annotations

import contextlib
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
                     warehouse_return_ids: Iterable[str] = (), source: str = "push",
                     said: str | None = None) -> list[dict[str, Any]]:
    """A push said these returns were received or un-received (S2r): the latest receipt the
    warehouse holds for each decides. ``said`` ("confirm" / "cancel"), what the push itself says,
    only lets a repeat be known before the re-read: a return already in that state is left alone
    (a push that lies about it causes nothing; the 15-minute S2x read finds any receipt missed)."""
    payload = {"what": "receipts", "return_nos": sorted(set(return_nos)), "order_nos": sorted(set(order_nos)),
               "warehouse_return_ids": sorted({str(i) for i in warehouse_return_ids}), "source": source}
    if said is not None:
        payload["said"] = said
    return _recheck(ctx, payload)


def _recheck(ctx: kit.FlowContext, payload: dict[str, Any]) -> list[dict[str, Any]]:
    # A re-read that fails transiently is queued (the push is then acknowledged: its news is
    # durably waiting), like any step.
    keys = payload.get("return_nos") or payload["order_nos"]
    with contextlib.ExitStack() as held:
        # The push's document is claimed before the warehouse is read again: the claim's one
        # request says whether the push is a repeat (then nothing more is asked), and the step
        # the re-read leads to finds it held. Claims the re-read does not use are given back.
        claims = []
        for kind, key, unless in _documents_of_push(payload):
            try:
                claims.append(held.enter_context(kit.claim_document(ctx, kind, key, unless=unless,
                                                                    ttl_days=RECORD_TTL_DAYS)))
            except kit.EffectInProgress:
                pass  # another worker is at it: the step after the re-read decides (and queues it)
        if claims and all(claim.repeated for claim in claims):
            return [{"outcome": "repeated"} for _ in claims]
        done = kit.attempt(ctx, recheck, payload, trace_key=keys[0] if keys else "s2.recheck")
    return done if done is not None else [{"outcome": "queued"}]


def _documents_of_push(payload: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    """The documents a push's claims are taken on before the re-read, each refused when the
    document bears the mark of what the push says: a cancel done at the store, the parcel (its
    tracking no.) shipped, the return in the state the push says. A parcel of several orders (a
    merged order) is claimed in the step, after the re-read."""
    if payload.get("source", "push") != "push":
        return []
    what = payload["what"]
    if what == "cancels":
        return [(ORDER_KIND, so_id, (cancel_mark(so_id),)) for so_id in payload["order_nos"]]
    if what == "shipments" and len(payload["order_nos"]) == 1 and len(payload.get("tracking_nos") or ()) == 1:
        return [(ORDER_KIND, payload["order_nos"][0], (parcel_mark(payload["tracking_nos"][0]),))]
    if what == "receipts" and len(payload["return_nos"]) == 1:
        said = payload.get("said")
        return [(RETURN_KIND, payload["return_nos"][0], (RETURN_STATE[said],) if said in RETURN_STATE else ())]
    return []


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
# the order no. alone.
CANCEL_IDENTITY_IGNORES = ("source", "remark")

# The marks an S2 confirmation leaves on its document's record (kit.claim_document): the effect
# done (its business key), and what a push names before the re-read tells its repeat by.
RECEIVED, UNRECEIVED = "s2.return:received", "s2.return:unreceived"
RETURN_STATE = {"confirm": RECEIVED, "cancel": UNRECEIVED}


def cancel_mark(so_id: str) -> str:
    return f"s2.store-cancel:{so_id}"


def parcel_mark(tracking_no: str) -> str:
    return f"s2.parcel:{tracking_no}"


def settle(ctx: kit.FlowContext, step: kit.FlowStep, payload: dict[str, Any], *, trace_key: str) -> dict[str, Any]:
    """A push or a polled record is settled (done, queued, or parked with its reason); the
    input's ``source`` is left out of its identity so push and poll park one letter. Its
    effect is claimed on the order's or return's record (kit.settle_document): one request says
    whether it is done already and whether this input was parked before."""
    if step is record_shipment:
        key = shipment_key(payload["so_id"], payload["l_id"], payload["lines"])
        return kit.settle_document(ctx, step, payload, trace_key=trace_key, identity_ignores=("source",),
                                   document=(ORDER_KIND, payload["so_id"]), unless=(f"s2.shipment:{key}",))
    if step is cancel_store_order:
        return kit.settle_document(ctx, step, payload, trace_key=trace_key, identity_ignores=CANCEL_IDENTITY_IGNORES,
                                   document=(ORDER_KIND, payload["so_id"]), unless=(cancel_mark(payload["so_id"]),))
    if step is record_return_receipt:
        return kit.settle_document(ctx, step, payload, trace_key=trace_key, identity_ignores=("source",),
                                   document=(RETURN_KIND, payload["return_no"]),
                                   unless=(RETURN_STATE[payload["action"]],))
    return kit.settle(ctx, step, payload, trace_key=trace_key, identity_ignores=("source",))


def _changed(model: Any, data: dict[str, Any], transition: Callable[..., None], *args: Any) -> dict[str, Any]:
    """A ledger's stored data after one named transition."""
    ledger = model.of(data)
    transition(ledger, *args)
    return ledger.record()


# --- S2d: a parcel shipped ---------------------------------------------------------------


def shipment_key(so_id: str, l_id: str, lines: Iterable[dict[str, Any]]) -> str:
    """The business key of one parcel: (so_id, l_id, its lines) — the same from the push and the poll."""
    canonical = ",".join(sorted(f"{line['line']}|{line['sku_id']}|{line['qty']}" for line in lines))
    if len(canonical) > 120:
        canonical = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return f"{so_id}:{l_id}:{canonical}"


@kit.flow_command("s2.record_shipment")
def record_shipment(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    so_id, l_id = payload["so_id"], payload["l_id"]
    key = shipment_key(so_id, l_id, payload["lines"])
    effect = f"s2.shipment:{key}"
    # The parcel's claim is on the order's ledger: one request reads the ledger with it (and is
    # refused, saying so, when the parcel is shipped already).
    claim = kit.claim_document(ctx, ORDER_KIND, so_id, unless=(effect,), ttl_days=RECORD_TTL_DAYS)
    if claim.repeated:
        return {"outcome": "repeated"}
    with claim:
        ledger = OrderLedger.of(claim.data)
        recorded = ledger.parcels.get(key)
        if recorded is not None:
            # Booked by an older release, which kept the effect in a record of its own: its P3
            # was made; finished under the same Idempotency-Key if that record's "done" is missing.
            return _finish_shipment(ctx, payload, key, effect, ledger, recorded, claim)
        if ledger.fully_shipped():
            ctx.timeline.record(so_id, ctx.ent_id, "s2.shipment_ignored",
                                {"l_id": l_id, "why": "the order is already fully shipped", "source": payload["source"]})
            return {"outcome": "already_shipped"}
        to_ship = ledger.still_to_ship(payload["lines"])
        if not to_ship:
            ctx.timeline.record(so_id, ctx.ent_id, "s2.shipment_ignored",
                                {"l_id": l_id, "why": "its lines are shipped already", "source": payload["source"]})
            return {"outcome": "already_shipped"}
        result = _ship_at_store(ctx, payload, key, merge_skus((line["sku_id"], line["qty"]) for line in to_ship),
                                {line["line"]: line["qty"] for line in to_ship})
        shipped_at = from_jst_text(payload.get("send_date")) or ctx.now()
        ledger_facts.store_order_shipped(ctx, so_id=so_id, shipment_key=key, lines=to_ship, at=shipped_at)
        if ledger.cod is not False:  # a COD part is with the courier (no COD record: nothing to do)
            cash_on_delivery.store_order_shipped(ctx, so_id, at=shipped_at)
        ours = claim.complete(lambda data: _changed(OrderLedger, data, OrderLedger.ship, key, l_id, to_ship),
                              marks=(effect, parcel_mark(l_id)),
                              step=("s2.shipped", {**result, "source": payload["source"]}))
    return _shipped(ctx, result, ours)


def _ship_at_store(ctx: kit.FlowContext, payload: dict[str, Any], key: str, items: list[dict[str, Any]],
                   lines: dict[str, int]) -> dict[str, Any]:
    """P3: the parcel at 店+, under its business key (a re-run is answered, nothing ships twice)."""
    from ...connectors.store import models as pos

    carrier = ctx.warehouse.store_carrier(payload["lc_id"])
    shipment = pos.Shipment(
        # The port's carrier name is optional: then the warehouse's own name of it, or its code.
        carrier_code=carrier.code, carrier_name=carrier.name or payload.get("logistics_company") or carrier.code,
        tracking_no=payload["l_id"], shipped_at=from_jst_text(payload.get("send_date")) or ctx.now(),
        items=[pos.SkuQty(sku_id=s["sku_id"], qty=s["qty"]) for s in items])
    done = _once_at_store(lambda: ctx.store.ship_order(payload["so_id"], shipment, business_key=key))
    return {"shipment_id": getattr(done, "shipment_id", None), "status": done.status, "l_id": payload["l_id"],
            "carrier": carrier.code, "lines": lines}


def _shipped(ctx: kit.FlowContext, result: dict[str, Any], ours: bool) -> dict[str, Any]:
    if not ours:
        return {"outcome": "repeated"}
    ctx.metric("WarehouseOrderShipped", 1)
    return {"outcome": "shipped", **result}


def _finish_shipment(ctx: kit.FlowContext, payload: dict[str, Any], key: str, effect: str,
                     ledger: OrderLedger, recorded: dict[str, Any], claim: kit.DocumentClaim) -> dict[str, Any]:
    marks = (effect, parcel_mark(payload["l_id"]))
    if kit.effect_done(ctx, effect):
        claim.complete(marks=marks)  # marked on the ledger: its next repeat is one request
        return {"outcome": "repeated"}
    sku_of = {line["line"]: line["sku_id"] for line in payload["lines"]}
    sku_of.update({line: spec["sku_id"] for line, spec in ledger.lines.items()})
    lines = {line: int(qty) for line, qty in recorded["lines"].items()}
    result = _ship_at_store(ctx, payload, key, merge_skus((sku_of.get(line, line), qty) for line, qty in lines.items()),
                            lines)
    ours = claim.complete(marks=marks, step=("s2.shipped", {**result, "source": payload["source"]}))
    return _shipped(ctx, result, ours)


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
    mark = cancel_mark(so_id)
    claim = kit.claim_document(ctx, ORDER_KIND, so_id, unless=(mark,), ttl_days=RECORD_TTL_DAYS)
    if claim.repeated:
        return {"outcome": "repeated"}
    with claim:
        ledger = OrderLedger.of(claim.data)
        if ledger.cancelled_by == "store":
            # JST echoes the cancel the store itself asked for: the store order is cancelled already.
            return {"outcome": "already_cancelled"}
        if ledger.cancelled_by == "jst":
            # Cancelled at the store by an older release (which booked it after 店+ answered): marked
            # on the ledger, so its next repeat is one request.
            claim.complete(marks=(mark,))
            return {"outcome": "repeated"}
        done = _once_at_store(lambda: ctx.store.cancel_order(so_id, payload["remark"] or "仓库取消订单",
                                                             business_key=so_id))
        ledger_facts.store_order_cancelled(ctx, so_id=so_id, reason=payload["remark"], at=payload.get("at"))
        ours = claim.complete(lambda data: _changed(OrderLedger, data, OrderLedger.cancel_by_warehouse),
                              marks=(mark,), step=("s2.cancelled_at_store", {"remark": payload["remark"]}))
    if not ours:
        return {"outcome": "repeated"}
    ctx.metric("WarehouseOrderCancelled", 1)
    return {"outcome": "cancelled", "status": done.status}


# --- S2r: the warehouse received (or un-received) the return -------------------------------


@kit.flow_command("s2.record_return_receipt")
def record_return_receipt(ctx: kit.FlowContext, payload: dict[str, Any]) -> dict[str, Any]:
    from ...connectors.store import models as pos

    return_no, action = payload["return_no"], payload["action"]
    state, other = (RECEIVED, UNRECEIVED) if action == "confirm" else (UNRECEIVED, RECEIVED)
    claim = kit.claim_document(ctx, RETURN_KIND, return_no, unless=(state,), ttl_days=RECORD_TTL_DAYS)
    if claim.repeated:
        return {"outcome": "repeated"}
    with claim:
        ret = ReturnLedger.of(claim.data)
        received = ret.received
        # Each confirm/cancel pair is one generation: a repeat of the same message has the same
        # key; a re-receipt after a cancel is a new effect.
        generation = ret.generation
        if (action == "confirm") == received:
            # 确认收货 of a received return, or 取消收货 of one not received: nothing changes — unless
            # an older release (an effect record of its own) booked this very change and died before
            # its "done": then that effect is finished.
            booked = generation if action == "confirm" else generation - 1
            effect = f"s2.return-receipt:{return_no}:{action}:{booked}"
            if booked < 0 or effect in claim.marks:
                return {"outcome": "repeated"}
            old = ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, effect)
            if old is None or old.data.get("state") == "done":
                claim.complete(marks=(state,), unmark=(other,))  # its next repeat is one request
                return {"outcome": "repeated"}
            generation, received = booked, not received
        key = f"{return_no}:{action}:{generation}"
        items = payload.get("items") or ret.items
        if not items:
            raise PermanentError(f"return {return_no}: the warehouse sent no lines and the bridge does not know the "
                                 "return's lines")
        receipt = pos.ReturnReceipt(action=action, received_at=from_jst_text(payload.get("received_at")) or ctx.now(),
                                    items=[pos.SkuQty(sku_id=i["sku_id"], qty=i["qty"]) for i in items])
        done = _once_at_store(lambda: ctx.store.receive_return(return_no, receipt, business_key=key))
        ledger_facts.store_order_returned(ctx, return_no=return_no, order_no=ret.order_no, key=key,
                                          items=items, action=action, at=receipt.received_at)
        result = {"status": done.status, "action": action}
        # Applied once per generation: a re-run of this same effect changes nothing more.
        transition = ReturnLedger.receive if action == "confirm" else ReturnLedger.unreceive
        ours = claim.complete(lambda data: _changed(ReturnLedger, data, transition, generation),
                              marks=(f"s2.return-receipt:{key}", state), unmark=(other,),
                              step=(f"s2.return_{'received' if action == 'confirm' else 'unreceived'}",
                                    {**result, "source": payload.get("source")}))
    if not ours:
        return {"outcome": "repeated"}
    return {"outcome": "received" if action == "confirm" else "unreceived", **result}
