"""The state S2 keeps per store order and per return, as small models with named transitions.

A ledger is one versioned record (``s2.order`` / ``s2.return``). ``change`` reads it, applies
one named transition and writes it back conditionally on the version read, so concurrent
Lambdas never lose an update; a transition that changes nothing writes nothing. The record's
field names are the stored ones (``o_id`` is the warehouse's order id, JST's o_id).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterable, TypeVar

from ...errors import TransientError

if TYPE_CHECKING:
    from ..kit import FlowContext

ORDER_KIND = "s2.order"      # per store order: its lines, the warehouse's id, parcels shipped, cancelled by whom
RETURN_KIND = "s2.return"    # per store return: its lines, the warehouse's id, receipt state
RECORD_TTL_DAYS = 400
# Each keeps the claims and marks of the effects on its document and the latest steps of its
# timeline (kit.claim_document): `o2o trace` reads them with the document's timeline.
DOCUMENT_KINDS = (ORDER_KIND, RETURN_KIND)
ATTEMPTS = 8  # conditional writes lost to other workers before giving up (transient)


@dataclass
class OrderLedger:
    """What the bridge knows of one store order sent to the warehouse."""

    lines: dict[str, dict[str, Any]] = field(default_factory=dict)   # line no. -> {sku_id, qty}
    o_id: str | None = None            # the warehouse's order id
    refused: str | None = None         # why the warehouse refused the order
    cancelled_by: str | None = None    # "store" (the store asked) or "jst" (the warehouse did)
    parcels: dict[str, dict[str, Any]] = field(default_factory=dict)  # parcel key -> {l_id, lines}
    # Whether the order has a 货到付款 part (a COD record to tell of its first parcel); None: not
    # known (a ledger of an older release, an order the bridge did not upload): its COD record is read.
    cod: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # fields a later release may add, kept as they are

    # --- reading -----------------------------------------------------------------------------
    @classmethod
    def of(cls, data: dict[str, Any]) -> "OrderLedger":
        known = {"lines", "o_id", "refused", "cancelled_by", "parcels", "cod"}
        return cls(lines=dict(data.get("lines") or {}), o_id=data.get("o_id"), refused=data.get("refused"),
                   cancelled_by=data.get("cancelled_by"), parcels=dict(data.get("parcels") or {}), cod=data.get("cod"),
                   extra={k: v for k, v in data.items() if k not in known})

    def record(self) -> dict[str, Any]:
        data = dict(self.extra)
        if self.lines:
            data["lines"] = self.lines
        for name in ("o_id", "refused", "cancelled_by", "cod"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.parcels:
            data["parcels"] = self.parcels
        return data

    def unshipped(self) -> dict[str, int]:
        """Line no. -> quantity the order still waits for, from its lines and the parcels shipped."""
        left = {line: int(spec["qty"]) for line, spec in self.lines.items()}
        for parcel in self.parcels.values():
            for line, qty in parcel["lines"].items():
                if line in left:
                    left[line] -= int(qty)
        return {line: qty for line, qty in left.items() if qty > 0}

    def fully_shipped(self) -> bool:
        return bool(self.lines) and not self.unshipped()

    def still_to_ship(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A parcel's lines capped at what the order still waits for (a parcel reported twice
        under other lines, e.g. by the push and by the poll, does not ship twice)."""
        if not self.lines:
            return [line for line in lines if line["qty"] > 0]  # an order the bridge did not upload
        left = self.unshipped()
        by_sku: dict[str, list[str]] = {}
        for line_no, spec in self.lines.items():
            by_sku.setdefault(spec["sku_id"], []).append(line_no)
        result = []
        for line in lines:
            # The warehouse echoes our line no.; without it, the first open line of the SKU.
            candidates = [line["line"]] if line["line"] in left else [n for n in by_sku.get(line["sku_id"], []) if n in left]
            qty = line["qty"]
            for line_no in candidates:
                take = min(qty, left[line_no])
                if take > 0:
                    result.append({"line": line_no, "sku_id": line["sku_id"], "qty": take})
                    left[line_no] -= take
                    qty -= take
        return result

    # --- transitions ----------------------------------------------------------------------------
    def remember(self, lines: Iterable[Any], o_id: str | None = None, cod: bool | None = None) -> None:
        """The order's lines (first time only) and, once known, the warehouse's id and whether it is COD."""
        if not self.lines:
            self.lines = {line.line_no: {"sku_id": line.sku_id, "qty": line.qty} for line in lines}
        if o_id is not None:
            self.o_id = o_id
        if cod is not None:
            self.cod = cod

    def refuse(self, reason: str) -> None:
        self.refused = reason

    def cancel_by_store(self) -> None:
        self.cancelled_by = "store"

    def cancel_by_warehouse(self) -> None:
        if self.cancelled_by is None:
            self.cancelled_by = "jst"  # the stored word for "the warehouse / ERP cancelled it"

    def ship(self, parcel_key: str, tracking_no: str, lines: list[dict[str, Any]]) -> None:
        self.parcels.setdefault(parcel_key, {"l_id": tracking_no, "lines": {line["line"]: line["qty"] for line in lines}})


@dataclass
class ReturnLedger:
    """What the bridge knows of one return sent to the warehouse, and whether it is received.
    Each receive / un-receive pair is one generation, so a re-receipt after a cancel is new."""

    order_no: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    as_id: str | None = None
    receipt: str | None = None   # "received" or None
    generation: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, data: dict[str, Any]) -> "ReturnLedger":
        known = {"order_no", "items", "as_id", "receipt", "generation"}
        return cls(order_no=data.get("order_no"), items=list(data.get("items") or []), as_id=data.get("as_id"),
                   receipt=data.get("receipt"), generation=int(data.get("generation", 0)),
                   extra={k: v for k, v in data.items() if k not in known})

    def record(self) -> dict[str, Any]:
        data = dict(self.extra)
        for name in ("order_no", "as_id"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.items:
            data["items"] = self.items
        if self.receipt is not None or "receipt" in self.extra:
            data["receipt"] = self.receipt
        if self.generation:
            data["generation"] = self.generation
        return data

    @property
    def received(self) -> bool:
        return self.receipt == "received"

    # --- transitions ----------------------------------------------------------------------------
    def remember(self, order_no: str, items: list[dict[str, Any]], as_id: str | None = None) -> None:
        if self.order_no is None:
            self.order_no = order_no
        if not self.items:
            self.items = items
        if as_id is not None:
            self.as_id = as_id

    def receive(self, generation: int) -> None:
        """The warehouse received it (once per generation: a repeat of this effect changes nothing)."""
        if self.generation == generation and not self.received:
            self.receipt = "received"

    def unreceive(self, generation: int) -> None:
        """The warehouse took its receipt back: the next receipt is a new generation."""
        if self.generation == generation and self.received:
            self.receipt = None
            self.generation = generation + 1


L = TypeVar("L", OrderLedger, ReturnLedger)


class Ledgers(Generic[L]):
    """Reading and changing one kind of ledger of a tenant."""

    def __init__(self, kind: str, model: type[L]) -> None:
        self.kind, self.model = kind, model

    # A record with no data is a claim's alone (kit.claim_document on a document not known yet):
    # no ledger.
    def get(self, ctx: "FlowContext", key: str) -> L | None:
        found = ctx.records.get(ctx.ent_id, self.kind, key)
        return self.model.of(found.data) if found and found.data else None

    def exists(self, ctx: "FlowContext", key: str) -> bool:
        found = ctx.records.get(ctx.ent_id, self.kind, key)
        return found is not None and bool(found.data)

    def change(self, ctx: "FlowContext", key: str, transition: Callable[..., None], *args: Any, **kwargs: Any) -> L:
        """Apply one named transition (a ledger method, e.g. ``OrderLedger.cancel_by_store``)
        with a version check, so concurrent Lambdas never lose an update."""
        for _ in range(ATTEMPTS):
            current = ctx.records.get(ctx.ent_id, self.kind, key)
            before = copy.deepcopy(current.data) if current else {}
            ledger = self.model.of(copy.deepcopy(before))
            transition(ledger, *args, **kwargs)
            after = ledger.record()
            if current is not None and after == before:
                return ledger
            # ``replace``: the claim and marks of its effects stay on the record (kit.claim_document).
            if ctx.records.replace(ctx.ent_id, self.kind, key, after,
                                   expected_version=current.version if current else None,
                                   ttl_days=RECORD_TTL_DAYS) is not None:
                return ledger
        raise TransientError(f"{self.kind} {key} is being changed by other workers; try again", retry_after_seconds=1)


    def create_or_change(self, ctx: "FlowContext", key: str, transition: Callable[..., None], *args: Any,
                         **kwargs: Any) -> L:
        """``change`` for a ledger that is usually not there yet (an order just uploaded): its first
        version is written at once, one conditional write with no read before it. When it exists
        after all, the refused write brings the stored one back and ``change`` applies the
        transition to that, as it would have."""
        ledger = self.model.of({})
        transition(ledger, *args, **kwargs)
        written, _ = ctx.records.put_or_current(ctx.ent_id, self.kind, key, ledger.record(), ttl_days=RECORD_TTL_DAYS)
        if written is not None:
            return ledger
        return self.change(ctx, key, transition, *args, **kwargs)


ORDERS: Ledgers[OrderLedger] = Ledgers(ORDER_KIND, OrderLedger)
RETURNS: Ledgers[ReturnLedger] = Ledgers(RETURN_KIND, ReturnLedger)


def merge_skus(pairs: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    """(sku, qty) pairs summed per SKU, positive quantities only, in first-seen order."""
    merged: dict[str, int] = {}
    for sku_id, qty in pairs:
        if qty > 0:
            merged[sku_id] = merged.get(sku_id, 0) + int(qty)
    return [{"sku_id": sku_id, "qty": qty} for sku_id, qty in merged.items()]
