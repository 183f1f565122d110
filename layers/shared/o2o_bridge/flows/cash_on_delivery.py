"""货到付款 (cash on delivery) for online orders fulfilled by stores.

1. A COD outbound (the ERP's mark, JST's ``is_cod`` on the outbound, or the tenant's COD label)
   carries the amount still to pay (pay_amount - paid_amount) into the order's record; dispatch
   sends it to the store as P1 ``cod``.
2. When the store ships it or the customer picks it up, the order becomes a COD order to
   reconcile (record ``cod.order``): expected amount, store, when it was handed over.
3. The store reports the money: ``cod_collected`` on the shipped / picked-up event, or a
   ``payment.collected`` event. The first report is recorded (and appended to the ledger)
   once; a later one with another amount is noted on the timeline, never counted twice.
4. ``reconcile`` (every poll_jst_documents run): a collection that differs from the expected
   amount is a mismatch, a COD order handed over ``cod_overdue_days`` ago and not collected is
   overdue - an online order the store shipped or handed over (S1), or a store order the
   warehouse shipped COD (S2, from its first parcel); both are counted in metrics the CodMismatch / CodOverdue alarms watch, and listed
   by ``o2o cod list``.

Reporting the collection to the ERP: JST's open API has no call that records a payment on an
order of a platform shop (orders/upload only writes orders of the merchant's own 自有商城 /
offline shops and would replace the order), so for S1 orders the platform and its courier
settle COD with the merchant; the bridge keeps the reconciliation here and in the ledger's
``cod`` report. See docs/order-centre.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from ..errors import PermanentError, UnprocessableRequest
from . import kit, ledger_facts

if TYPE_CHECKING:
    from ..ports.erp import OnlineOutbound
    from .kit import FlowContext

COD_KIND = "cod.order"  # key io_id: expected, collected, status
COD_TTL_DAYS = 400


def _money(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def _due(fields: dict[str, Any]) -> Decimal | None:
    """The amount still to pay: pay_amount minus what was paid online (paid_amount)."""
    pay = _money(fields.get("pay_amount"))
    if pay is None:
        return None
    paid = _money(fields.get("paid_amount")) or Decimal("0.00")
    return max(pay - paid, Decimal("0.00"))


def cod_terms(ctx: "FlowContext", outbound: "OnlineOutbound") -> dict[str, Any]:
    """The order's money for the store and the ledger: ``pay_amount`` when the ERP gives it, and
    ``cod_amount`` (pay_amount - paid_amount) for a COD outbound with money still to collect.
    COD: the ERP marks it (JST: the tenant's ``order_centre.cod_field`` on the outbound, read by
    the connector) or it carries the tenant's ``order_centre.cod_label``."""
    terms: dict[str, Any] = {}
    pay = _money(outbound.pay_amount)
    if pay is not None:
        terms["pay_amount"] = str(pay)
    label = ctx.tenant.order_centre.cod_label
    if not (outbound.cash_on_delivery or (label and label in outbound.labels)):
        return terms
    due = _due({"pay_amount": outbound.pay_amount, "paid_amount": outbound.paid_amount})
    return {**terms, "cod_amount": str(due)} if due else terms


# --- handed over, collected ------------------------------------------------------------------

def _change(ctx: "FlowContext", key: str, change) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    for _ in range(20):
        current = ctx.records.get(ctx.ent_id, COD_KIND, key)
        before = dict(current.data) if current else None
        after = change(dict(before) if before else None)
        if after is None or after == before:
            return before, before
        # A record there is changed keeping its claim, marks and steps (``on_payment_collected``
        # claims it); a new one is put (the write a joined block holds).
        if current is not None:
            written = ctx.records.replace(ctx.ent_id, COD_KIND, key, after, expected_version=current.version,
                                          ttl_days=COD_TTL_DAYS)
        else:
            written = ctx.records.put(ctx.ent_id, COD_KIND, key, after, ttl_days=COD_TTL_DAYS)
        if written:
            return before, after
    raise kit.EffectInProgress(f"COD record {key} kept changing; try again")


def _status(record: dict[str, Any]) -> str:
    if record.get("collected") is None:
        return "uncollected"
    if record.get("expected") is None:
        return "collected_unexpected"
    return "collected" if Decimal(record["collected"]) == Decimal(record["expected"]) else "mismatch"


def handed_over(ctx: "FlowContext", io_id: str, *, how: str, at: datetime, collected: Any = None,
                order: dict[str, Any] | None = None) -> None:
    """The store shipped online order ``io_id`` or the customer picked it up (``collected``: the
    event's optional ``cod_collected`` {amount, method}). ``order``: the order's record, when the
    caller has it (nothing is read for it then)."""
    if order is None:
        from .store_fulfilment import load_order

        known = load_order(ctx, str(io_id))
        order = known.data if known else {"io_id": str(io_id)}
    io_id = str(io_id)
    expected = _money(order.get("cod_amount"))
    if expected is None and collected is None:
        return

    def handed(d):
        d = d or {"io_id": io_id, "collected": None}
        if d.get("handed_at"):
            return None
        return {**d, "expected": str(expected) if expected is not None else None, "store_code": order.get("store_code"),
                "how": how, "handed_at": at.isoformat(), "status": _status({**d, "expected": expected})}

    before, after = _change(ctx, io_id, handed)
    if after is not before:
        ctx.timeline.record(io_id, ctx.ent_id, "cod.handed_over", {"expected": after.get("expected"), "how": how,
                                                                   "store": order.get("store_code")})
    if collected is not None:
        record_collection(ctx, io_id, amount=collected.amount, method=collected.method, at=at,
                          source=f"fulfilment.{how}", store_code=order.get("store_code"))


def record_collection(ctx: "FlowContext", io_id: str, *, amount: Any, method: str | None, at: datetime, source: str,
                      store_code: str | None = None) -> str:
    """The store collected ``amount`` for ``io_id``: recorded once (the first report wins);
    returns the order's COD status afterwards."""
    amount_text = str(_money(amount))

    def collect(d):
        d = d or {"io_id": io_id, "expected": None, "store_code": store_code, "handed_at": None}
        if d.get("collected") is not None:
            return None
        changed = {**d, "collected": amount_text, "method": method, "collected_at": at.isoformat(), "source": source}
        changed["status"] = _status(changed)
        return changed

    before, after = _change(ctx, io_id, collect)
    ledger_facts.cod_collected(ctx, io_id=io_id, store_code=(after or {}).get("store_code") or store_code,
                               amount=(after or {}).get("collected", amount_text), method=(after or {}).get("method"),
                               at=(after or {}).get("collected_at", at), source=(after or {}).get("source", source))
    if after is before:
        if before and before.get("collected") != amount_text:
            ctx.timeline.record(io_id, ctx.ent_id, "cod.reported_again",
                                {"first": before.get("collected"), "now": amount_text, "source": source},
                                level="warning")
        return (before or {}).get("status", "")
    ctx.timeline.record(io_id, ctx.ent_id, "cod.collected",
                        {"amount": amount_text, "expected": after.get("expected"), "method": method,
                         "status": after["status"], "source": source},
                        level="info" if after["status"] == "collected" else "warning")
    ctx.metric("CodCollected", 1)
    return after["status"]


COLLECTED = "cod.collected"  # a COD record's mark: a payment.collected event recorded on it


def on_payment_collected(event, ctx: "FlowContext") -> None:
    """``payment.collected``: 货到付款 money the store collected for an online order (external_id,
    the JST io_id) or a store order (order_no).

    The event keeps no record of its own (its route says ``once_by_its_effect``): it claims the
    COD record (``kit.claim_document``: one write that returns the record, so nothing is read
    first) and the "done" writes the collection, the mark ``COLLECTED`` and its step, in one
    request. A repeat is the claim refused by the mark (another amount reported is noted on the
    timeline, never counted). An online order not handed over yet is checked against its order."""
    from . import store_fulfilment

    data = event.data
    io_id = getattr(data, "external_id", None)
    key = str(io_id) if io_id else order_key(str(data.order_no))
    source = "payment.collected"
    amount_text = str(_money(data.amount))
    at = data.collected_at
    with kit.claim_document(ctx, COD_KIND, key, unless=(COLLECTED,), ttl_days=COD_TTL_DAYS) as claim:
        record = claim.data or None
        if claim.repeated or (record and record.get("collected") is not None):
            _reported_again(ctx, key, record or {}, amount_text, source)
            if not claim.repeated:  # collected by the shipped / picked-up event: marked, so a repeat is one write
                _collected_fact(ctx, key, record, amount_text, at, source)
                claim.complete(marks=(COLLECTED,))
            return
        store_code = (record or {}).get("store_code")
        if io_id and not (record or {}).get("handed_at"):
            order = store_fulfilment.load_order(ctx, key)
            if order is None or not order.data:
                raise UnprocessableRequest(f"data.external_id: {io_id} is not an online order the bridge dispatched")
            store_code = store_code or order.data.get("store_code")
        after = _collected(record, key, amount_text, data.method, at, source, store_code)
        # The fact before the "done": a crash between them does both again (the fact is kept once).
        _collected_fact(ctx, key, after, amount_text, at, source)
        claim.complete(lambda stored: _collected(stored or None, key, amount_text, data.method, at, source, store_code)
                       if (stored or {}).get("collected") is None else stored,
                       marks=(COLLECTED,),
                       step=("cod.collected", {"amount": amount_text, "expected": after.get("expected"),
                                               "method": data.method, "status": after["status"], "source": source},
                             "info" if after["status"] == "collected" else "warning"))
    ctx.metric("CodCollected", 1)


def _collected(record: dict[str, Any] | None, key: str, amount_text: str, method: str | None, at: datetime,
               source: str, store_code: str | None) -> dict[str, Any]:
    """The COD record with the collection reported (the first report; ``record_collection``'s change)."""
    d = record or {"io_id": key, "expected": None, "store_code": store_code, "handed_at": None}
    changed = {**d, "collected": amount_text, "method": method, "collected_at": at.isoformat(), "source": source}
    changed["status"] = _status(changed)
    return changed


def _collected_fact(ctx: "FlowContext", key: str, record: dict[str, Any] | None, amount_text: str, at: datetime,
                    source: str) -> None:
    record = record or {}
    ledger_facts.cod_collected(ctx, io_id=key, store_code=record.get("store_code"),
                               amount=record.get("collected", amount_text), method=record.get("method"),
                               at=record.get("collected_at", at), source=record.get("source", source))


def _reported_again(ctx: "FlowContext", key: str, record: dict[str, Any], amount_text: str, source: str) -> None:
    if record.get("collected") not in (None, amount_text):
        ctx.timeline.record(key, ctx.ent_id, "cod.reported_again",
                            {"first": record.get("collected"), "now": amount_text, "source": source}, level="warning")


# --- S2: a store order the warehouse ships 货到付款 -------------------------------------------------

def expect_for_store_order(ctx: "FlowContext", order: Any) -> None:
    """A store order with a COD part went to the warehouse (uploaded unpaid for that part, see
    the warehouse connector): its amount awaits the reconciliation, key ``order:<order_no>``."""
    cod = getattr(order, "cod", None)
    if cod is None or not cod.amount:
        return
    to_collect = _money(cod.amount)
    key = order_key(order.order_no)

    def expect(d):
        d = d or {"io_id": key, "collected": None, "handed_at": None, "store_code": None}
        if d.get("expected") is not None:
            return None
        changed = {**d, "expected": str(to_collect), "order_no": order.order_no}
        changed["status"] = _status(changed)
        return changed

    _change(ctx, key, expect)


def order_key(order_no: str) -> str:
    """The key of a store order's COD record (beside the online orders' ``io:`` ones)."""
    return f"order:{order_no}"


def store_order_shipped(ctx: "FlowContext", order_no: str, *, at: datetime) -> None:
    """The warehouse shipped (the first parcel of) store order ``order_no``: a COD part is now
    with the courier, and overdue if not reported collected within ``cod_overdue_days``. A store
    order without a COD part has no record and is left alone."""
    key = order_key(order_no)

    def shipped(d):
        if d is None or d.get("handed_at"):
            return None
        return {**d, "handed_at": at.isoformat(), "how": "warehouse_shipped"}

    before, after = _change(ctx, key, shipped)
    if after is not before:
        ctx.timeline.record(order_no, ctx.ent_id, "cod.handed_over",
                            {"expected": after.get("expected"), "how": "warehouse_shipped"})


# --- reconciliation ----------------------------------------------------------------------------

def _reading(key: str, data: dict[str, Any], overdue_before: datetime) -> dict[str, Any]:
    """The COD record ``key`` as an operator sees it (its status, overdue, what is missing);
    PermanentError when a field cannot be read (a record written by a bug or an older shape)."""
    try:
        for field in ("expected", "collected"):
            if data.get(field) not in (None, "") and _money(data[field]) is None:
                raise ValueError(f"{field} {data[field]!r} is not an amount")
        status = data.get("status") or _status(data)
        handed = datetime.fromisoformat(data["handed_at"]) if data.get("handed_at") else None
        if status == "uncollected" and handed is not None and handed <= overdue_before:
            status = "overdue"
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise PermanentError(f"COD record {key} cannot be read: {type(exc).__name__}: {exc}") from None
    expected, collected = _money(data.get("expected")), _money(data.get("collected"))
    missing = (expected or Decimal("0")) - (collected or Decimal("0"))
    return {"io_id": key, **data, "status": status, "missing": str(missing)}


PROBLEMS = ("mismatch", "collected_unexpected", "overdue")


def _overdue_before(ctx: "FlowContext") -> datetime:
    return ctx.now() - timedelta(days=ctx.tenant.order_centre.cod_overdue_days)


def problems(ctx: "FlowContext", *, include_all: bool = False) -> list[dict[str, Any]]:
    """COD orders an operator must look at: collected with another amount (mismatch), handed over
    ``cod_overdue_days`` ago and not collected (overdue), or a record that cannot be read
    (unreadable, with the reason; the reconciliation parked it on the DLQ)."""
    overdue_before = _overdue_before(ctx)
    found = []
    for record in ctx.records.list(ctx.ent_id, COD_KIND):
        try:
            reading = _reading(record.key, dict(record.data), overdue_before)
        except PermanentError as exc:
            found.append({"io_id": record.key, "status": "unreadable", "reason": str(exc), "missing": "?"})
            continue
        if reading["status"] in PROBLEMS or include_all:
            found.append(reading)
    return found


def reconcile(ctx: "FlowContext") -> dict[str, Any]:
    """Count what needs a person: metrics CodMismatch and CodOverdue (their alarms fire above 0).
    A record that cannot be read is set aside (parked with the reason, once) and the others are
    counted; ``unreadable`` (when there are any) says how many were left out."""
    overdue_before = _overdue_before(ctx)

    def check(record: Any) -> str:
        return _reading(record.key, dict(record.data), overdue_before)["status"]

    counts = kit.each_record(ctx, ctx.records.list(ctx.ent_id, COD_KIND), check, step=reconcile_record,
                             payload_of=lambda record: {"key": record.key},
                             trace_key_of=lambda record: _trace_key(record.key))
    summary = {"mismatch": counts["mismatch"] + counts["collected_unexpected"], "overdue": counts["overdue"]}
    unreadable = counts["parked"] + counts["parked_before"] + counts["queued"]
    if unreadable:
        summary["unreadable"] = unreadable
    ctx.metric("CodMismatch", summary["mismatch"])
    ctx.metric("CodOverdue", summary["overdue"])
    return summary


def _trace_key(key: str) -> str:
    return key.removeprefix("order:")  # a store order's timeline is its order no.


@kit.flow_command("cod.reconcile_record")
def reconcile_record(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """One COD record reconciled again (`o2o dlq replay` of a record the round set aside): its
    status now, or the same PermanentError while it still cannot be read. The next round counts it."""
    record = ctx.records.get(ctx.ent_id, COD_KIND, payload["key"])
    if record is None:
        return {"key": payload["key"], "status": "gone"}
    reading = _reading(record.key, dict(record.data), _overdue_before(ctx))
    ctx.timeline.record(_trace_key(record.key), ctx.ent_id, "cod.reconciled", {"status": reading["status"]})
    return {"key": record.key, "status": reading["status"]}
