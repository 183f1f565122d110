"""S1 step 1: the poll (``poll_jst_outbound``, every 2 minutes). It confirms what the stores
finished (confirmations.py; again at its end, for what they finished while it ran), then reads
the online outbounds the ERP assigned to the stores (Erp port ``online_outbound_pages``; JST:
sales outbounds of the 店加线下仓 by ts cursor). A waiting outbound is remembered and dispatched
(dispatch.py); a cancelled one cancels what was dispatched (cancels.py).

Pages are fetched one at a time; the cursor moves only after a page's outbounds are handled,
and a run short of time stops before fetching the next page (the next run goes on from there,
so a backlog is read once). An outbound that fails is set aside (queued or parked with its
reason) and the page goes on."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from .. import cash_on_delivery as cod, kit
from ..kit import attempt, flow_command
from ..offline_warehouse_rules import SELF_MALL_ORDER, self_mall_refusal
from .cancels import cancel_outbound
from .confirmations import TIME_MARGIN_SECONDS, confirm_pending, confirm_pending_with_last
from .dispatch import dispatch
from .exceptions import count_stuck_orders, park
from .order import ORDER_KIND, ORDER_TTL_DAYS, load_order, note_routing, order_from_outbound

if TYPE_CHECKING:
    from ...ports.erp import OnlineOutbound
    from ..kit import FlowContext

CURSOR = "jst.sales_outbound"


# A poll that has just confirmed this many outbounds itself reads on past them instead of scanning
# them again (each comes back once JST has confirmed it: one scan call per 50): one read of the
# last one's cursor and a scan of each state the poll acts on, filtered by the ERP (JST: 3 scans,
# at least one call each), cost less from about 4 pages of them.
CATCH_UP_AFTER = 200


def poll_jst_outbound(ctx: "FlowContext") -> dict[str, Any]:
    """Confirm what the stores finished (``confirm_pending``), then scan the stores' online
    outbounds from the stored cursor, a page at a time: fetch a
    page, handle its outbounds, move the cursor, and only then (time permitting) fetch the next;
    at the end, confirm what the stores finished meanwhile.
    A run short of time stops between pages and fetched nothing it did not handle; the next run
    goes on from the cursor (re-reading only the edge record, which is handled idempotently).

    After confirming many outbounds itself (``CATCH_UP_AFTER``) the run first reads only the
    outbounds it acts on (waiting, cancelled) since the cursor, then moves the cursor to where
    the last confirmed one stands (``_past_own_confirmations``): what it confirmed, which changed
    in the ERP because of it, is not read back."""
    cursor = ctx.cursors.get(ctx.ent_id, CURSOR)
    start_ts = int(cursor.value) if cursor else 0
    version = cursor.version if cursor else None
    summary: dict[str, Any] = {"cursor_from": start_ts, "pages": 0, "read": 0, "handled": 0, "dispatched": 0,
                               "cancelled": 0, "ignored": 0, "refused": 0, "stopped_early": False}
    # What the stores finished since the last poll goes to the ERP first: it waits on nothing.
    first, last_confirmed = confirm_pending_with_last(ctx)
    summary["confirmations"] = first
    position = start_ts
    if cursor and last_confirmed is not None and first["confirmed"] >= CATCH_UP_AFTER:
        moved = _past_own_confirmations(ctx, summary, start_ts, version, last_confirmed)
        if moved is not None:
            position, version = moved
    if not summary["stopped_early"] and not summary.get("cursor_taken_over"):
        pages = ctx.erp.online_outbound_pages(str(position) if cursor or position else None)
        position, version = _scan(ctx, pages, summary, position, version, advance=True)
    summary["cursor_to"] = position
    # What the stores finished while this run scanned goes to the ERP now, batched with the
    # rest, rather than a whole poll cycle later (unless the first pass found the ERP refusing
    # or the run short of time: then the next run tries).
    if "deferred" not in first and not first["waiting"]:
        summary["confirmations"] = _both_passes(first, confirm_pending(ctx))
    # Orders whose dispatch never finished would otherwise wait silently for a person to run
    # `o2o exceptions list`: counted every run, so the FulfilmentsStuck alarm can say so.
    summary["stuck"] = count_stuck_orders(ctx)
    ctx.metric("FulfilmentsStuck", summary["stuck"])
    return summary


def _past_own_confirmations(ctx: "FlowContext", summary: dict[str, Any], start_ts: int, version: int | None,
                            last_confirmed: str) -> tuple[int, int | None] | None:
    """Move the cursor past the outbounds this run confirmed without reading them back.

    First the cursor at the last one confirmed (``erp.cursor_at``, X): anything that changes
    after that reading comes after X. Then, with the ERP's filter, the outbounds the poll acts on
    that changed since the stored cursor, handled as the scan handles them: the cancelled ones
    (few; the cursor stays), then the waiting ones, moving the cursor after each page to that
    page's end but never past X. So the cursor passes a waiting outbound only once it is handled
    and a cancelled one only once they all are; the others (confirmed, by this run or anyone) the
    poll ignores anyway; whatever changes after X's reading comes after X. A run short of time
    keeps what it moved (the next run goes on from there), a cursor another run moved stops it.
    Returns the cursor's (position, version), or None when it did not read on (X unknown)."""
    at = ctx.erp.cursor_at(last_confirmed)
    if at is None or int(at) <= start_ts:
        return None
    _scan(ctx, ctx.erp.online_outbound_pages(str(start_ts), only="cancelled"), summary, start_ts, version,
          advance=False)
    if summary["stopped_early"]:
        return start_ts, version
    position, version = _scan(ctx, ctx.erp.online_outbound_pages(str(start_ts), only="waiting"), summary,
                              start_ts, version, advance=True, at_most=int(at))
    if summary["stopped_early"] or summary.get("cursor_taken_over"):
        return position, version
    if position < int(at):
        if not ctx.cursors.advance(ctx.ent_id, CURSOR, at, version):
            summary["cursor_taken_over"] = True  # another run moved it meanwhile: it goes on from there
            return position, version
        position, version = int(at), (version or 0) + 1
    summary["read_past_own_confirmations"] = summary["confirmations"]["confirmed"]
    return position, version


def _scan(ctx: "FlowContext", pages: Any, summary: dict[str, Any], position: int, version: int | None, *,
          advance: bool, at_most: int | None = None) -> tuple[int, int | None]:
    """Fetch a page, handle its outbounds, move the cursor (``advance``, to the page's end or
    ``at_most``, whichever is lower) and only then, time permitting, fetch the next, until the
    last page. Returns the cursor's (position, version)."""
    try:
        while True:
            if ctx.time_left() < TIME_MARGIN_SECONDS:
                summary["stopped_early"] = True  # the next run goes on from the cursor
                break
            page = next(pages, None)
            if page is None:
                break
            summary["pages"] += 1
            summary["read"] += len(page.outbounds)
            # An outbound that fails is set aside (queued or parked with its reason) and the
            # page goes on: one bad order never holds the cursor and every order behind it.
            outcomes = kit.each_record(ctx, sorted(page.outbounds, key=lambda ob: ob.position),
                                       lambda ob: handle_outbound(ctx, ob), step=handle_outbound_again,
                                       payload_of=_outbound_payload, trace_key_of=lambda ob: ob.outbound_id)
            for outcome, count in outcomes.items():
                summary[outcome] = summary.get(outcome, 0) + count
                summary["handled"] += count
            to = int(page.next_cursor) if at_most is None else min(int(page.next_cursor), at_most)
            if advance and to > position:
                if not ctx.cursors.advance(ctx.ent_id, CURSOR, str(to), version):
                    # Another run moved the cursor meanwhile: it goes on from there.
                    summary["cursor_taken_over"] = True
                    break
                version = (version or 0) + 1
                position = to
            if page.last:
                break
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()
    return position, version


def _both_passes(first: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    """The run's confirmations: calls and settled outbounds of both passes; ``waiting`` is what
    still waits when the run ends."""
    return {**last, **{k: first[k] + last[k] for k in ("calls", "confirmed", "refused")}}


def handle_outbound(ctx: "FlowContext", outbound: "OnlineOutbound") -> str:
    """One outbound as the scan saw it; safe to repeat (the cursor's edge record comes back)."""
    io_id = outbound.outbound_id
    if outbound.status == "waiting":
        data = {**order_from_outbound(ctx, outbound), **cod.cod_terms(ctx, outbound)}
        refusal = self_mall_refusal(ctx.tenant, data["shop_id"])
        if refusal:
            data["status"] = "exception"
        elif load_order(ctx, io_id) is None:
            note_routing(ctx, io_id, data["route_no"])
        if ctx.records.put(ctx.ent_id, ORDER_KIND, io_id, data, ttl_days=ORDER_TTL_DAYS):
            ctx.timeline.record(io_id, ctx.ent_id, "s1.outbound_seen",
                                {"so_id": data["so_id"], "o_id": data["o_id"], "delivery": data["delivery"],
                                 "items": [{"sku_id": i["sku_id"], "qty": i["qty"]} for i in data["items"]],
                                 "region": f"{data['receiver']['province']} {data['receiver']['city']}"},
                                aliases=tuple(a for a in (data["so_id"], data["o_id"]) if a))
        if refusal:
            park(ctx, io_id, SELF_MALL_ORDER, refusal, shop_id=data["shop_id"])
            return "refused"
        order = load_order(ctx, io_id)
        if order is not None and order.status == "routing":
            attempt(ctx, dispatch, {"io_id": io_id, "route_no": order.data["route_no"]}, trace_key=io_id)
            return "dispatched"
        return "ignored"
    if outbound.status == "cancelled":
        return "cancelled" if cancel_outbound(ctx, io_id, jst_status=outbound.erp_status) else "ignored"
    return "ignored"  # Confirmed (by us), OuterConfirming...: nothing for the stores to do


def _outbound_payload(outbound: "OnlineOutbound") -> dict[str, Any]:
    return {"outbound": dataclasses.asdict(outbound)}


@flow_command("s1.handle_outbound")
def handle_outbound_again(ctx: "FlowContext", payload: dict[str, Any]) -> str:
    """An outbound the poll set aside, handled again by the retry worker or `o2o dlq replay`:
    as the poll read it, or (a row the ERP connector could not read) read again from its row."""
    from ...ports import OnlineOutbound, OutboundLine, Receiver

    if "outbound" in payload:
        data = dict(payload["outbound"])
        outbound = OnlineOutbound(**{**data, "receiver": Receiver(**data["receiver"]),
                                     "lines": tuple(OutboundLine(**line) for line in data["lines"]),
                                     "labels": tuple(data.get("labels") or ())})
    else:
        outbound = ctx.erp.online_outbound_again(payload["row"])
    return handle_outbound(ctx, outbound)
