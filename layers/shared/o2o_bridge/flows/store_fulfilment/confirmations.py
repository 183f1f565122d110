"""S1 step 3, the ERP's side: what the stores finished (shipped, picked up) is confirmed in the
ERP. A store event only queues its confirmation (record ``s1.confirm.pending``); the poll
confirms what waits, before it scans and again when it ends (what the stores finished while it
ran goes out in that run, not a poll cycle later), as many outbounds a call as the ERP takes
(``erp.confirm_online_outbounds``; JST wms/sent/upload, 50 rows), once per outbound. A refused
outbound is parked (exceptions.py) with what retries it; the others in its call are confirmed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import PermanentError, TransientError
from .. import ledger_facts, reservations
from ..kit import effect_once, effect_recorded, flow_command, recorded_write
from .exceptions import EXCEPTION_KIND, park, resolve_exception
from .order import ORDER_KIND, ORDER_TTL_DAYS, Order, change_order, load_order

if TYPE_CHECKING:
    from ...ports.erp import OutboundConfirmation
    from ..kit import FlowContext

# key io_id: a confirmation a store event asked for, sent to the ERP by the next poll with the
# others waiting (one ERP call per ``erp.info.max_confirmations_per_call`` outbounds).
PENDING_CONFIRM_KIND = "s1.confirm.pending"
# Stop confirming (and scanning, scan.py) with this much time left; the next run goes on.
TIME_MARGIN_SECONDS = 20.0
# A request's copy of the order as the store event left it ({"version", "data"}): the batch confirms
# the outbound from it without reading the order (its write is conditional on that version).
ORDER_SNAPSHOT = "order_as_queued"
# Outbounds settled in one transaction: each is its "done", its order, its request deleted and its
# timeline step (4 of the 100 items a transaction takes).
TOGETHER = 25


def queue_confirmation(ctx: "FlowContext", payload: dict[str, Any]) -> None:
    """The store is done with the outbound: the goods left it, so the order's hold on its stock
    goes now; the confirmation waits for the next poll's batch (one conditional write; a
    repeated event finds it waiting and changes nothing)."""
    io_id = str(payload["io_id"])
    if not payload.get("hold_released"):  # the caller released it (store_events.store_finished)
        known = load_order(ctx, io_id)
        if known is not None:
            reservations.release(ctx, known.data.get("store_code"), io_id)
            # Said so in the request: its confirmation does not read the holds again to release them.
            payload = {**payload, "hold_released": True}
    ctx.records.put(ctx.ent_id, PENDING_CONFIRM_KIND, io_id, payload, ttl_days=ORDER_TTL_DAYS)


def confirm_pending(ctx: "FlowContext") -> dict[str, Any]:
    """``confirm_pending_with_last`` without the last one confirmed."""
    return confirm_pending_with_last(ctx)[0]


def confirm_pending_with_last(ctx: "FlowContext") -> tuple[dict[str, Any], str | None]:
    """Confirm in the ERP what the stores finished, ``erp.info.max_confirmations_per_call``
    outbounds a call, while time is left. Each outbound is settled
    on its own: confirmed once (``effect_once`` per io_id), or parked when the ERP refuses it,
    never holding up the others of its call. A failed call leaves its outbounds waiting for
    the next poll (the ERP takes a repeated confirmation as done).

    What waits is read one call's worth at a time (``records.list_page``), so a run after a sale
    holds one batch, not every waiting confirmation. ``waiting``: the batch left unsent when the
    run stopped (out of time, or the ERP refusing calls); more may wait behind it. Also returns
    the outbound confirmed last (the poll moves its cursor past the ones it confirmed)."""
    size = max(1, ctx.erp.info.max_confirmations_per_call)
    counts: dict[str, Any] = {"calls": 0, "confirmed": 0, "refused": 0, "waiting": 0}
    after, last = "", None
    finished_at: dict[str, int] = {}
    while True:
        batch = ctx.records.list_page(ctx.ent_id, PENDING_CONFIRM_KIND, after=after, limit=size)
        if not batch:
            break
        if ctx.time_left() < TIME_MARGIN_SECONDS:
            counts["waiting"] += len(batch)  # the next poll goes on
            break
        try:
            results = ctx.erp.confirm_online_outbounds([_confirmation_of(r.data) for r in batch])
        except TransientError as exc:
            counts["waiting"] += len(batch)
            counts["deferred"] = str(exc)
            break
        counts["calls"] += 1
        for record in batch:
            store = _store_of(record.data)
            finished_at[store] = finished_at.get(store, 0) + 1
        # The outbounds whose request carries their order: settled together, nothing read first.
        settled = _settle_together(ctx, [r for r in batch if _settles_together(r, results.get(r.key))], results)
        rest = [r for r in batch if r.key not in settled]
        # What settling each of the others reads, in one request: its order and any exception parked
        # for it (served from the flow's records view; every write stays conditional on the version read).
        try:
            ctx.records.prefetch(ctx.ent_id, [(kind, r.key) for r in rest for kind in (ORDER_KIND, EXCEPTION_KIND)])
        except TransientError:
            pass  # throttled: each outbound reads its own records as it is settled
        for record in batch:
            outcome = "confirmed" if record.key in settled else _settle_confirmation(ctx, record,
                                                                                      results.get(record.key))
            counts[outcome] += 1
            if outcome == "confirmed":
                last = record.key
        if len(batch) < size:
            break
        # Settled ones are deleted; one whose request changed meanwhile stays for the next run.
        after = batch[-1].key
    try:
        # The stores' records carry a let-go mark per order they finished (store_events): folded in
        # here for a store with many, so a store that only ships keeps a small record.
        reservations.settle_let_go(ctx, finished_at)
    except TransientError:
        pass  # throttled or contended: the next run, or the store's next hold, folds them
    return counts, last


def _store_of(payload: dict[str, Any]) -> str:
    return ((payload.get(ORDER_SNAPSHOT) or {}).get("data") or {}).get("store_code") or ""


def _confirmation_of(payload: dict[str, Any]) -> "OutboundConfirmation":
    from ...ports import OutboundConfirmation

    return OutboundConfirmation(str(payload["io_id"]), payload["how"], payload.get("carrier_code"),
                                payload.get("tracking_no"))


def _settles_together(record: Any, result: Any) -> bool:
    """Confirmed by the ERP, and its request carries the order (and was never parked): the batch
    settles it without a read."""
    return (result is not None and not isinstance(result, Exception) and ORDER_SNAPSHOT in record.data
            and not record.data.get("parked"))


def _settle_together(ctx: "FlowContext", records: list[Any], results: dict[str, Any]) -> set[str]:
    """What the ERP confirmed, settled in one transaction per ``TOGETHER`` outbounds, with nothing
    read first: each outbound's "done" (written only where none is: ``kit.recorded_write``), its
    order confirmed (only at the version its request carries), its request deleted (only the version
    read) and its timeline step. The ledger facts go first (a crash after them repeats them, and
    they are kept once). An outbound whose write is refused (confirmed before, its order or request
    changed meanwhile) is settled one at a time after, the others together again. Returns the
    outbounds settled."""
    from ...ports import TogetherWrite

    settled: set[str] = set()
    booked = []
    for record in records:
        snapshot, payload = record.data[ORDER_SNAPSHOT], record.data
        try:
            ledger_facts.fulfilled(ctx, snapshot["data"], how=payload["how"], fulfilment_id=payload["fulfilment_id"],
                                   at=payload.get("at"))
        except Exception:  # noqa: BLE001 - this outbound alone goes the one-at-a-time way (parked there)
            continue
        booked.append(record)
    records = booked
    for start in range(0, len(records), TOGETHER):
        group = records[start:start + TOGETHER]
        for _ in range(2):
            writes, traces = [], []
            for record in group:
                io_id, payload = record.key, record.data
                snapshot = payload[ORDER_SNAPSHOT]
                order = Order(snapshot["version"], dict(snapshot["data"]))
                order.confirm(payload["how"])
                writes += [recorded_write(f"s1.confirm:{io_id}", results[io_id], ctx.now),
                           TogetherWrite(ORDER_KIND, io_id, order.data, expect_version=True,
                                         expected_version=snapshot["version"], ttl_days=ORDER_TTL_DAYS),
                           TogetherWrite(PENDING_CONFIRM_KIND, io_id, delete=True, expect_version=True,
                                         expected_version=record.version)]
                traces.append((io_id, "s1.confirmed_in_jst", {**results[io_id],
                                                              "fulfilment_id": payload["fulfilment_id"]}))
            try:
                refused = ctx.records.write_together(ctx.ent_id, writes, traces=tuple(traces))
            except TransientError:  # a conflict with another transaction: one at a time
                break
            if refused is None:
                settled.update(record.key for record in group)
                ctx.metric("FulfilmentConfirmed", len(group))
                break
            stood_in_the_way = {record.key for i, record in enumerate(group)
                                if any(failed for failed, _ in refused[3 * i:3 * i + 3])}
            group = [record for record in group if record.key not in stood_in_the_way]
            if not group:
                break
    return settled


def _settle_confirmation(ctx: "FlowContext", record: Any, result: Any) -> str:
    payload = record.data
    io_id = record.key
    # What an operator's retry runs (s1.confirm_outbound): the request without its copy of the order.
    retry = {"command": "s1.confirm_outbound", "payload": {k: v for k, v in payload.items() if k != ORDER_SNAPSHOT}}
    version = record.version
    if isinstance(result, PermanentError) or result is None:
        reason = str(result) if result is not None else f"the {ctx.erp.info.display_name} answer did not name it"
        version = _parking(ctx, record)
        park(ctx, io_id, "confirm_refused", reason, retry=retry)
        outcome = "refused"
    else:
        try:
            # JST has confirmed it already (the batch call's answer): recorded as done in one write.
            _confirmed(ctx, payload, effect_recorded(ctx, f"s1.confirm:{io_id}", result))
        except TransientError:  # another worker is settling this outbound: the next poll looks again
            return "waiting"
        except Exception as exc:  # this outbound alone, parked with its reason: the others go on
            version = _parking(ctx, record)
            park(ctx, io_id, "confirm_refused", f"confirmed in {ctx.erp.info.display_name}, then: {exc}",
                 retry=retry)
            outcome = "refused"
        else:
            outcome = "confirmed"
    # Only the request this batch read: a store event that came meanwhile waits for the next.
    ctx.records.delete(ctx.ent_id, PENDING_CONFIRM_KIND, io_id, expected_version=version)
    return outcome


def _parking(ctx: "FlowContext", record: Any) -> int:
    """The request is about to be parked: said so on it first, so that should the run end before it
    is deleted, the next run settles it one at a time (which resolves the exception) rather than
    together. Returns the request's version now."""
    if ORDER_SNAPSHOT not in record.data or record.data.get("parked"):
        return record.version
    written = ctx.records.put(ctx.ent_id, PENDING_CONFIRM_KIND, record.key, {**record.data, "parked": True},
                              expected_version=record.version, ttl_days=ORDER_TTL_DAYS)
    return written.version if written is not None else record.version


@flow_command("s1.confirm_outbound")
def confirm_outbound(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any] | None:
    """One outbound confirmed in the ERP at once, exactly once (a parked confirmation retried
    by an operator, a retry queued before confirmations were batched)."""
    io_id = str(payload["io_id"])

    def upload() -> dict[str, Any]:
        return ctx.erp.confirm_online_outbound(io_id, how=payload["how"], carrier_code=payload.get("carrier_code"),
                                               tracking_no=payload.get("tracking_no"))

    try:
        outcome = effect_once(ctx, f"s1.confirm:{io_id}", upload)
    except PermanentError as exc:
        park(ctx, io_id, "confirm_refused", str(exc), retry={"command": "s1.confirm_outbound", "payload": payload})
        return None
    return _confirmed(ctx, payload, outcome)


def _confirmed(ctx: "FlowContext", payload: dict[str, Any], outcome: Any) -> dict[str, Any]:
    """What follows the ERP's confirmation: the ledger fact, the stores' hold released, the
    outbound's status; the timeline and metric only for the first time."""
    io_id = str(payload["io_id"])
    status = payload["how"]
    known = load_order(ctx, io_id)
    ledger_facts.fulfilled(ctx, known.data if known else {"io_id": io_id}, how=status,
                           fulfilment_id=payload["fulfilment_id"], at=payload.get("at"))
    if known is not None and not payload.get("hold_released"):
        # Gone at the store event already (its request says so); a retry queued before batching,
        # or a request written before it said so, had not.
        reservations.release(ctx, known.data.get("store_code"), io_id)
    change_order(ctx, io_id, Order.confirm, status)
    if not outcome.repeated:
        ctx.timeline.record(io_id, ctx.ent_id, "s1.confirmed_in_jst", {**outcome.result,
                                                                       "fulfilment_id": payload["fulfilment_id"]})
        ctx.metric("FulfilmentConfirmed", 1)
    resolve_exception(ctx, io_id, kinds=("confirm_refused",))
    return outcome.result
