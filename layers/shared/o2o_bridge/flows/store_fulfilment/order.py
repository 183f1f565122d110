"""The state S1 keeps per online outbound: one versioned record (``s1.order``, key io_id),
read as an ``Order`` and changed only by its named transitions.

``change_order`` reads the record, applies one transition and writes it back conditionally
on the version read, so concurrent Lambdas never lose an update; a transition that does not
apply (the order moved on since the step was queued) writes nothing. The record's field names
are the stored ones (``o_id``, ``so_id``, ``jst_status``, ``ts`` came first; stored orders
carry them). While an order is being routed or dispatched a marker (``s1.routing``) says since
when, so the stuck ones are found without reading every order (exceptions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ...errors import TransientError, UnprocessableRequest

if TYPE_CHECKING:
    from ...ports.erp import OnlineOutbound
    from ..kit import FlowContext

ORDER_KIND = "s1.order"          # key io_id: the outbound's state here
# key io_id: an outbound being routed or dispatched (status "routing") and since when, so the
# ones stuck there (their retries gave up or keep failing) are found without reading every order.
ROUTING_KIND = "s1.routing"
ORDER_TTL_DAYS = 180
ATTEMPTS = 20  # conditional writes lost to other workers before giving up (transient)

# routing -> dispatched -> shipped | picked_up; routing -> exception (parked for a person);
# dispatched -> routing again (the store rejected it); routing | exception | dispatched -> cancelled (the ERP).
STATUSES = ("routing", "dispatched", "exception", "shipped", "picked_up", "cancelled")


class OrderChanged(TransientError):
    """Someone else kept changing the outbound's record; the step is retried."""


@dataclass
class Order:
    """One online outbound as the bridge handles it. ``data`` is the stored record (None: an
    outbound never seen, which only ``cancel_by_erp`` may create); ``version`` the one read."""

    version: int | None
    data: dict[str, Any] | None

    # --- reading -----------------------------------------------------------------------------
    @property
    def seen(self) -> bool:
        return self.data is not None

    @property
    def status(self) -> str:
        return (self.data or {}).get("status", "")

    @property
    def route_no(self) -> int:
        return int((self.data or {}).get("route_no", 0))

    def still_routing(self, route_no: int) -> bool:
        """Being routed under this route number (not dispatched, parked, cancelled or routed again)."""
        return self.status == "routing" and self.route_no == route_no

    def routed(self, route_no: int) -> dict[str, Any] | None:
        """The decision of route ``route_no`` when the order itself keeps it (a rejection routed
        again writes it with the holds it took, rerouting.py), else None: the route's effect
        record keeps it (dispatch.py)."""
        return routed_on(self.data, route_no)

    # --- named transitions: each changes ``data`` when it applies, else leaves it ------------------
    def park(self, route_no: int) -> None:
        """No store can take it (or the store refused it): an exception for a person."""
        if self.still_routing(route_no):
            self.data = _left_route({**self.data, "status": "exception"})

    def dispatch_to(self, route_no: int, store_code: str, fulfilment_id: str, day: str | None) -> None:
        """The routed store has its fulfilment order."""
        if self.still_routing(route_no):
            self.data = _left_route({**self.data, "status": "dispatched", "store_code": store_code,
                                     "fulfilment_id": fulfilment_id, "capacity_day": day})

    def note_created_while_cancelled(self, store_code: str, fulfilment_id: str, day: str | None) -> None:
        """The ERP cancelled while the store's order was being created: remember it, to undo it."""
        if self.seen and not self.data.get("fulfilment_id"):
            self.data = {**self.data, "fulfilment_id": fulfilment_id, "store_code": store_code, "capacity_day": day}

    def confirm(self, status: str) -> None:
        """Shipped or picked up, confirmed in the ERP."""
        if self.seen and self.status != status:
            self.data = {**self.data, "status": status}

    def reject(self, store_code: str, fulfilment_id: str, reason: str, sku_ids: list[str] | None) -> None:
        """A store rejected its fulfilment order (noted once per fulfilment): route again without it."""
        if not self.seen or any(r["fulfilment_id"] == fulfilment_id for r in self.data.get("rejections", [])):
            return
        rejection = {"store_code": store_code, "reason": reason, "fulfilment_id": fulfilment_id}
        if sku_ids:
            rejection["sku_ids"] = sku_ids
        changed = {**self.data, "rejections": [*self.data.get("rejections", []), rejection]}
        if self.status == "dispatched" and self.data.get("fulfilment_id") == fulfilment_id:
            changed.update(status="routing", route_no=self.route_no + 1, store_code=None, fulfilment_id=None,
                           forced_store=None, released={"store_code": store_code, "day": self.data.get("capacity_day")})
        self.data = changed

    def cancel_by_erp(self, io_id: str, erp_status: str) -> None:
        """The ERP voided the outbound; a never-seen one is remembered so a late dispatch does nothing."""
        if not self.seen:
            self.data = {"io_id": io_id, "status": "cancelled", "jst_status": erp_status, "route_no": 0,
                         "rejections": []}
        elif self.status in ("routing", "exception", "dispatched"):
            self.data = {**self.data, "status": "cancelled", "jst_status": erp_status, "was": self.status}

    def route_again_by_hand(self, io_id: str, store_code: str | None) -> None:
        """`o2o exceptions reroute`: a parked order (or a stuck one, to another store) gets a new
        route; a stuck one without a store keeps its route (the same dispatch runs again)."""
        if not self.seen:
            raise UnprocessableRequest(f"outbound {io_id} is not known to the bridge")
        if self.status not in ("exception", "routing"):
            raise UnprocessableRequest(f"outbound {io_id} is {self.status}; only a parked or routing order is re-routed")
        if self.status == "routing" and store_code is None:
            return
        self.data = {**self.data, "status": "routing", "route_no": self.route_no + 1, "forced_store": store_code}


# The decision of the route under way, kept on the order by a rejection routed again (rerouting.py):
# {"route_no", "store_code", "day", "at"}. Gone once the order leaves that route (dispatched,
# parked): every write of the order bills its size.
ROUTED = "routed"


def routed_on(data: dict[str, Any] | None, route_no: int) -> dict[str, Any] | None:
    decided = (data or {}).get(ROUTED)
    return decided if decided and decided.get("route_no") == route_no and decided.get("store_code") else None


def _left_route(data: dict[str, Any]) -> dict[str, Any]:
    data.pop(ROUTED, None)
    return data


def load_order(ctx: "FlowContext", io_id: str) -> Order | None:
    record = ctx.records.get(ctx.ent_id, ORDER_KIND, io_id)
    return Order(record.version, record.data) if record else None


def change_order(ctx: "FlowContext", io_id: str, transition: Callable[..., None], *args: Any) -> \
        tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Apply one named transition (an ``Order`` method, e.g. ``Order.park``) with a version
    check, re-reading on a conflict. Returns the record (before, after); ``after is before``
    when the transition did not apply."""
    for _ in range(ATTEMPTS):
        current = load_order(ctx, io_id)
        before = dict(current.data) if current else None
        # Transitions build new dicts ({**data, ...}) and never change nested values in place.
        order = Order(current.version if current else None, dict(before) if before is not None else None)
        transition(order, *args)
        after = order.data
        if after is None or after == before:
            return before, before
        if _routing(after) and not (_routing(before) and before["route_no"] == after["route_no"]):
            note_routing(ctx, io_id, after["route_no"])  # before the order: a crash leaves no order unseen
        # ``replace``: the record's marks and timeline steps (a store's shipped or picked-up event keeps
        # them there, kit.claim_document) and a claim held on it stay.
        if ctx.records.replace(ctx.ent_id, ORDER_KIND, io_id, after, expected_version=order.version,
                               ttl_days=ORDER_TTL_DAYS):
            if _routing(before) and not _routing(after):
                routing_done(ctx, io_id, before["route_no"])
            return before, after
    raise OrderChanged(f"outbound {io_id} kept changing under this step")


def _routing(data: dict[str, Any] | None) -> bool:
    return bool(data) and data.get("status") == "routing"


def note_routing(ctx: "FlowContext", io_id: str, route_no: int) -> None:
    """Remember since when the outbound is being routed (a new route number starts the clock again)."""
    current = ctx.records.get(ctx.ent_id, ROUTING_KIND, io_id)
    if current is not None and current.data.get("route_no") == route_no:
        return
    ctx.records.put(ctx.ent_id, ROUTING_KIND, io_id,
                    {"io_id": io_id, "route_no": route_no, "since": ctx.now().isoformat()},
                    expected_version=current.version if current else None, ttl_days=ORDER_TTL_DAYS)


def routing_done(ctx: "FlowContext", io_id: str, route_no: int) -> None:
    """The outbound left the route ``route_no`` (dispatched, parked, cancelled): its marker goes."""
    current = ctx.records.get(ctx.ent_id, ROUTING_KIND, io_id)
    if current is not None and current.data.get("route_no", 0) <= route_no:
        ctx.records.delete(ctx.ent_id, ROUTING_KIND, io_id)


def order_from_outbound(ctx: "FlowContext", ob: "OnlineOutbound") -> dict[str, Any]:
    """A new order's record, from the outbound as the ERP port reads it."""
    # A store the customer chose (门店自提) makes it a pickup even without the pickup label.
    delivery = "pickup" if ctx.tenant.routing.pickup_label in ob.labels or ob.pickup_store_code else "express"
    receiver = ob.receiver
    return {
        "io_id": ob.outbound_id, "o_id": ob.order_id, "so_id": ob.platform_order_no,
        "shop_id": int(ob.shop_id) if ob.shop_id and ob.shop_id.isdigit() else ob.shop_id,
        "delivery": delivery, "pickup_store_code": ob.pickup_store_code, "status": "routing", "route_no": 0,
        "jst_status": ob.erp_status, "ts": ob.position,
        "receiver": {"name": receiver.name, "mobile": receiver.mobile, "province": receiver.province,
                     "city": receiver.city, "district": receiver.district, "address": receiver.address},
        "items": [{"sku_id": line.sku_id, "qty": line.qty, "name": line.name, "price": line.price} for line in ob.lines],
        "buyer_message": ob.buyer_message,
        "rejections": [], "store_code": None, "fulfilment_id": None, "forced_store": None,
    }
