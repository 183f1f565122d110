"""S1's exceptions: what a person must look at. An order no store can take, a store that
refused to create or cancel, an ERP that refused a confirmation or undid one is parked here
(record ``s1.exception``, counted once in the metric the FulfilmentExceptions alarm watches);
an order whose dispatch never finished is found by its routing marker (``stuck_orders``).
`o2o exceptions list` shows both (``exceptions_to_show``); rerouting.py re-routes them, by
hand or by the healing run (flows/healing.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import kit
from .order import ORDER_TTL_DAYS, ROUTING_KIND, load_order, routed_on

if TYPE_CHECKING:
    from ..kit import FlowContext

EXCEPTION_KIND = "s1.exception"  # key io_id: what an operator must look at
EXCEPTION_METRIC = "FulfilmentExceptions"
# The steps that route and create a store's order (dispatch.py): a stuck order is explained by theirs.
DISPATCH_COMMANDS = ("s1.dispatch", "s1.create_at_store")


def park(ctx: "FlowContext", io_id: str, kind: str, reason: str, **detail: Any) -> None:
    """Record an exception once (counted once in the metric the alarm watches)."""
    data = {"io_id": io_id, "kind": kind, "reason": reason, "status": "open", "at": ctx.now().isoformat(), **detail}
    order = load_order(ctx, io_id)
    if order is not None:
        data.update(so_id=order.data.get("so_id"), rejected_by=[r["store_code"] for r in order.data.get("rejections", [])])
    for _ in range(5):
        current = ctx.records.get(ctx.ent_id, EXCEPTION_KIND, io_id)
        if current is not None and current.data.get("status") == "open" and current.data.get("kind") == kind:
            return
        if ctx.records.put(ctx.ent_id, EXCEPTION_KIND, io_id, data,
                           expected_version=current.version if current else None, ttl_days=ORDER_TTL_DAYS):
            ctx.timeline.record(io_id, ctx.ent_id, "s1.exception", {"kind": kind, "reason": reason, **detail},
                                level="error")
            ctx.metric(EXCEPTION_METRIC, 1)
            return


def resolve_exception(ctx: "FlowContext", io_id: str, *, kinds: tuple[str, ...] | None = None) -> None:
    current = ctx.records.get(ctx.ent_id, EXCEPTION_KIND, io_id)
    if current is None or current.data.get("status") != "open" or (kinds and current.data.get("kind") not in kinds):
        return
    ctx.records.put(ctx.ent_id, EXCEPTION_KIND, io_id,
                    {**current.data, "status": "resolved", "resolved_at": ctx.now().isoformat()},
                    expected_version=current.version, ttl_days=ORDER_TTL_DAYS)


def open_exceptions(ctx: "FlowContext") -> list[dict[str, Any]]:
    return [r.data for r in ctx.records.list(ctx.ent_id, EXCEPTION_KIND) if r.data.get("status") == "open"]


def stuck_orders(ctx: "FlowContext") -> list[dict[str, Any]]:
    """Outbounds still being routed or dispatched ``routing.stuck_after_minutes`` after they
    started: their dispatch step was dead-lettered (retries gave up), is still waiting for a
    retry, or is not running at all. Shown by `o2o exceptions list`, re-routed by `reroute`; the
    poll only counts them (``count_stuck_orders``)."""
    oldest = ctx.now() - timedelta(minutes=ctx.tenant.routing.stuck_after_minutes)
    stuck = []
    for marker in ctx.records.list(ctx.ent_id, ROUTING_KIND):
        since = datetime.fromisoformat(marker.data["since"])
        if since > oldest:
            continue
        order = load_order(ctx, marker.key)
        if order is None or order.status != "routing":
            continue  # left routing; the marker's removal was lost (it expires with its TTL)
        state, why = _dispatch_state(ctx, marker.key, order.data["route_no"], order.data)
        stuck.append({"io_id": marker.key, "kind": "stuck_routing", "status": "open", "at": since.isoformat(),
                      "so_id": order.data.get("so_id"), "route_no": order.data["route_no"], "dispatch_state": state,
                      "rejected_by": [r["store_code"] for r in order.data.get("rejections", [])],
                      "reason": f"still being routed/dispatched after {ctx.tenant.routing.stuck_after_minutes} min: "
                                f"{why}"})
    return stuck


def count_stuck_orders(ctx: "FlowContext") -> int:
    """How many ``stuck_orders`` there are (the poll's FulfilmentsStuck metric), read a page of
    markers at a time: many orders routing at once (店+ down during a sale) never sit in memory."""
    oldest = ctx.now() - timedelta(minutes=ctx.tenant.routing.stuck_after_minutes)
    stuck = 0
    for marker in kit.records_in_pages(ctx, ROUTING_KIND):
        if datetime.fromisoformat(marker.data["since"]) > oldest:
            continue
        order = load_order(ctx, marker.key)
        if order is not None and order.status == "routing":
            stuck += 1
    return stuck


def _dispatch_state(ctx: "FlowContext", io_id: str, route_no: int,
                    order: dict[str, Any] | None = None) -> tuple[str, str]:
    """("dead_lettered" | "waiting_for_retry" | "not_running", a sentence) from the order's timeline."""
    store = (routed_on(order, route_no) or {}).get("store_code")  # a rejection's route keeps it on the order
    if store is None:
        decided = ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, f"s1.route:{io_id}:{route_no}")
        store = ((decided.data.get("result") or {}).get("store_code")
                 if decided and decided.data.get("state") == "done" else None)
    where = f"routed to store {store}" if store else "no store decided yet"
    last = None
    for entry in ctx.timeline.entries(io_id, ctx.ent_id):
        if entry.step in ("retry.queued", "retry.scheduled", "retry.dead_lettered", "retry.succeeded") and \
                entry.detail.get("command") in DISPATCH_COMMANDS:
            last = entry
    if last is not None and last.step == "retry.dead_lettered":
        return "dead_lettered", f"{where}; {last.detail['command']} was dead-lettered: {last.detail.get('reason')}"
    if last is not None and last.step in ("retry.queued", "retry.scheduled"):
        attempts = last.detail.get("attempt", 1)
        return "waiting_for_retry", (f"{where}; {last.detail['command']} is waiting for retry (failed {attempts} "
                                     f"time(s), last: {last.detail.get('error')})")
    return "not_running", f"{where}; no dispatch step is running or queued for it"


def exceptions_to_show(ctx: "FlowContext") -> list[dict[str, Any]]:
    """What `o2o exceptions list` prints: the parked orders, then the stuck ones."""
    return [*open_exceptions(ctx), *stuck_orders(ctx)]
