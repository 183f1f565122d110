"""S1 steps 3 and 4, the store's side: its events about a fulfilment order the bridge created.

- ``fulfilment.shipped`` / ``fulfilment.picked_up``: the goods left the store; the COD money
  is noted and the confirmation queued for the ERP (confirmations.py).
- ``fulfilment.rejected`` (S1r): the order is routed again without every store that rejected
  it; ``out_of_stock`` also marks unavailable at that store for the day the SKUs the event
  names (optional ``items``), or else every SKU of the order. With no store left the order is
  parked as an exception (dispatch.py), to be re-routed by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import TransientError, UnprocessableRequest
from .. import cash_on_delivery as cod, reservations
from ..kit import attempt, claim_document, flow_command
from . import rerouting
from .confirmations import ORDER_SNAPSHOT, queue_confirmation
from .dispatch import FULFILMENT, OUTBOUND_ROUTE
from .order import ORDER_KIND, ORDER_TTL_DAYS, load_order

if TYPE_CHECKING:
    from ...events.models import PosEvent
    from ..kit import FlowContext


def outbound_of_event(ctx: "FlowContext", fulfilment_id: str, external_id: str) -> str:
    """The io_id a store event is about; refuses a fulfilment the bridge did not create."""
    link = ctx.links.find(ctx.ent_id, FULFILMENT, fulfilment_id, OUTBOUND_ROUTE)
    if link is not None:
        io_id = link.other_key.split("#", 1)[0]
        if io_id != external_id:
            raise UnprocessableRequest(f"data.external_id: fulfilment {fulfilment_id} belongs to outbound "
                                       f"{io_id}, not {external_id}")
        return io_id
    order = load_order(ctx, external_id)
    if order is not None and order.status == "routing":
        # The fulfilment may have been created a moment ago and not linked yet.
        raise TransientError(f"fulfilment {fulfilment_id} is not linked to outbound {external_id} yet; send it again",
                             retry_after_seconds=30)
    raise UnprocessableRequest(f"data.fulfilment_id: {fulfilment_id} (outbound {external_id}) is not a fulfilment "
                               "order the bridge created")


def finished_mark(fulfilment_id: str) -> str:
    """The order record's mark of a store's shipped or picked-up event about ``fulfilment_id``."""
    return f"s1.finished:{fulfilment_id}"


def on_fulfilment_shipped(event: "PosEvent", ctx: "FlowContext") -> None:
    data = event.data
    store_finished(ctx, event, how="shipped", at=data.shipped_at,
                   step=("s1.store_shipped", {"fulfilment_id": data.fulfilment_id, "carrier": data.carrier_code,
                                              "tracking_no": data.tracking_no, "event_id": event.event_id}),
                   confirmation={"carrier_code": data.carrier_code, "tracking_no": data.tracking_no})


def on_fulfilment_picked_up(event: "PosEvent", ctx: "FlowContext") -> None:
    data = event.data
    store_finished(ctx, event, how="picked_up", at=data.picked_up_at,
                   step=("s1.customer_picked_up", {"fulfilment_id": data.fulfilment_id, "event_id": event.event_id}),
                   confirmation={})


def store_finished(ctx: "FlowContext", event: "PosEvent", *, how: str, at: Any, step: tuple[str, dict[str, Any]],
                   confirmation: dict[str, Any]) -> None:
    """The goods left the store (shipped, picked up): the COD money noted, the order's hold on the
    store's stock released and its confirmation queued for the poll's batch, once per fulfilment.

    The event keeps no record of its own (its route says ``once_by_its_effect``): it claims the
    order's record (``kit.claim_document``, one write that returns the order, so nothing is read
    first), and the "done" marks it finished for this fulfilment, with the event's step, the hold
    released (``reservations.release_unread``: the order's store names the record of its holds,
    which is marked let go with the order's lines, not read) and the confirmation queued, in one
    request. A repeat (the same event, or another about the same fulfilment) is the claim refused
    by that mark. The order answers which fulfilment it is at now; one it is not at (an earlier
    route's) is checked by its link."""
    data = event.data
    io_id = str(data.external_id)
    mark = finished_mark(data.fulfilment_id)
    with claim_document(ctx, ORDER_KIND, io_id, unless=(mark,), ttl_days=ORDER_TTL_DAYS) as claim:
        if claim.repeated:
            return
        if not claim.data or claim.data.get("fulfilment_id") != data.fulfilment_id:
            outbound_of_event(ctx, data.fulfilment_id, data.external_id)  # the bridge's, by its link; else it raises
            if not claim.data:
                raise UnprocessableRequest(f"data.external_id: outbound {io_id} is not known to the bridge")
        order = claim.data
        store_code = order.get("store_code")
        # Noted before the "done" (a COD order only; repeat-safe: the first hand-over counts), its
        # steps ride with the "done".
        cod.handed_over(ctx, io_id, how=how, at=at, collected=data.cod_collected, order=order)
        payload = {"io_id": io_id, "fulfilment_id": data.fulfilment_id, "how": how, **confirmation,
                   "at": at.isoformat(), "hold_released": True,
                   # The order as this "done" leaves it: the poll's batch confirms it without reading it
                   # (its write is conditional on this version; a changed order is read then).
                   ORDER_SNAPSHOT: {"version": claim.version + 1, "data": order}}

        def book() -> None:
            # The store and lines the claim returned name the hold: released with nothing read (a
            # mark with the lines on the store's reservation record), in the "done"'s request.
            reservations.release_unread(ctx, store_code, io_id, order.get("items") or [])
            queue_confirmation(ctx, payload)

        claim.complete(marks=(mark,), step=step, book=book)


def on_fulfilment_rejected(event: "PosEvent", ctx: "FlowContext") -> None:
    data = event.data
    # Known by the order's own record, read with what the rerouting reads (rerouting.py).
    io_id = rerouting.outbound_of_rejection(ctx, data.fulfilment_id, data.external_id, data.store_code)
    payload = {"io_id": io_id, "fulfilment_id": data.fulfilment_id, "store_code": data.store_code,
               "reason": data.reason, "at": event.occurred_at.isoformat()}
    if data.items:  # the store named what it cannot fulfil (optional in the contract)
        payload["sku_ids"] = sorted({item.sku_id for item in data.items})
    attempt(ctx, store_rejected, payload, trace_key=io_id)


@flow_command("s1.rejected")
def store_rejected(ctx: "FlowContext", payload: dict[str, Any]) -> None:
    """Note the rejection (once per fulfilment) and route the order again without that store
    (rerouting.py).

    ``out_of_stock`` marks the SKUs the store named (``sku_ids``) unavailable there for the day;
    when it named none, every SKU of the order."""
    rerouting.route_again_after_rejection(ctx, payload)
