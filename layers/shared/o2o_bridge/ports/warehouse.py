"""The Warehouse port: whoever ships the stores' orders, sends goods to the stores (配货),
takes them back (退仓) and holds the warehouse stock. Today the ERP's own warehouse (JST,
connectors/jushuitan/warehouse.py); a cloud WMS over 奇门 implements the same port.

The value types are the bridge's own terms, small frozen dataclasses: no connector's wire
model crosses this line. Identifiers a warehouse gives (its order, return and document ids)
are opaque strings to the flows: they are stored and handed back, never interpreted.

Exactly once, the rule for every command below: the warehouse call is idempotent on the
store's own document number (``order_no``, ``return_no``, ``doc_no``). An adapter asked again
for a document the warehouse already holds answers as it did the first time (the same id,
``already_there`` when it can tell) instead of creating a second one. The flows add their
own effect records on top (flows/kit.py ``effect_once``), so a repeat after a lost answer
reaches the warehouse at most once more, and is then recognised by that number.

Reads have no effect and may be repeated freely; whatever the warehouse says it shipped,
cancelled or received enters one flow function (flows/warehouse_orders.py
``take_confirmations``; flows/store_transfers.py ``follow_store_documents``), whether the
news came from a poll, a push naming documents (re-read here, never believed), or a
confirmation the warehouse signs itself.

Errors: errors.TransientError (retry later) or errors.PermanentError; ``WarehouseRefused`` when
the warehouse refuses a document for a reason the store's staff must fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Mapping, Protocol, Sequence

from ..errors import PermanentError, UnprocessableRequest

if TYPE_CHECKING:
    from .state import MalformedRow


class WarehouseRefused(UnprocessableRequest):
    """The warehouse refused the store's document (a row error of an upload, a cancel it cannot
    do). The store system gets a 422 with the warehouse's own message; nothing is linked."""


class UnknownWarehouseDocument(PermanentError):
    """A cloud WMS confirmed a document the bridge did not create (or no longer remembers)."""


class UnreadableWarehouseAnswer(PermanentError):
    """A cloud WMS's answer to the bridge's question that cannot be read as the document asked
    for (a missing element, a bad quantity): set aside with this reason, never read as
    "nothing happened"."""


# --- value types --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkuQty:
    sku_id: str
    qty: int


@dataclass(frozen=True)
class OrderLine:
    """One line of a store order or return, numbered by the store (``line_no``)."""

    line_no: str
    sku_id: str
    qty: int
    amount: Decimal = Decimal(0)
    price: Decimal | None = None
    name: str | None = None


@dataclass(frozen=True)
class Receiver:
    name: str
    mobile: str
    province: str
    city: str
    district: str
    address: str


@dataclass(frozen=True)
class StoreOrder:
    """A store or micro-mall order the warehouse is to ship (S2 / Q1), paid."""

    order_no: str
    receiver: Receiver
    lines: tuple[OrderLine, ...]
    pay_amount: Decimal
    freight: Decimal
    paid_at: datetime
    # 货到付款: the part of pay_amount the courier collects on delivery (the order is paid only for
    # the rest); None when the customer paid it all.
    cod_amount: Decimal | None = None


@dataclass(frozen=True)
class OrderAccepted:
    order_no: str
    warehouse_order_id: str  # the warehouse's id of the order (JST o_id)


@dataclass(frozen=True)
class ReturnRequest:
    """The customer sends goods of a warehouse-shipped order back to the warehouse (S2r / Q2).
    ``kind``: return, refund_only, exchange, reject, reship, repair, other (the store's words)."""

    return_no: str
    order_no: str
    kind: str
    lines: tuple[OrderLine, ...]


@dataclass(frozen=True)
class ReturnAccepted:
    return_no: str
    warehouse_return_id: str | None  # JST as_id; None when the warehouse gives none


@dataclass(frozen=True)
class ShippedLine:
    """``line_no`` is the store's line number when the warehouse echoes it, else the SKU."""

    line_no: str
    sku_id: str
    qty: int


@dataclass(frozen=True)
class Shipment:
    """One parcel of one store order left the warehouse (S2d / Q1 confirm)."""

    order_no: str
    tracking_no: str
    carrier_code: str        # the warehouse's carrier code; ``store_carrier`` maps it
    carrier_name: str | None
    shipped_at: str          # the warehouse's wall time, yyyy-MM-dd HH:mm:ss Asia/Shanghai
    lines: tuple[ShippedLine, ...]


@dataclass(frozen=True)
class OrderCancelled:
    """The warehouse (or the ERP behind it) cancelled a store order (S2c)."""

    order_no: str
    remark: str = ""


@dataclass(frozen=True)
class ReturnReceived:
    """The warehouse received a return (``received``) or took its receipt back (S2r / Q2)."""

    return_no: str
    order_no: str | None
    warehouse_return_id: str | None
    received: bool
    received_at: str | None  # wall time as in Shipment.shipped_at
    items: tuple[SkuQty, ...]


Confirmation = Shipment | OrderCancelled | ReturnReceived


@dataclass(frozen=True)
class WarehouseNews:
    """What one message a cloud WMS signed itself says, in the bridge's terms, once the adapter
    has added it up against the documents the bridge created there: the confirmations for
    ``take_confirmations``, whether a 配货 / 退仓 document is now finished (the store is told
    without waiting for the next poll), and the SKUs whose stock the WMS says moved (read
    again, never taken as deltas). ``detail`` says what the message did (document, units
    passed on, units beyond the plan), for the caller's answer and the effect record."""

    confirmations: tuple[Confirmation, ...] = ()
    store_documents_done: bool = False
    # The finished 配货 / 退仓 itself, (``"transfer"`` | ``"warehouse_return"``, the store's
    # document no.), when the WMS names it: only its parts are followed, not every open one.
    store_document: tuple[str, str] | None = None
    stock_to_reread: tuple[str, ...] = ()
    stock_warehouse: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)
    # What the adapter's record of the document becomes, when the caller's claim read it
    # (``CloudWarehouse.take_message(message, record)``): written with the claim's "done".
    record: Mapping[str, Any] | None = None
    # The finished 配货 / 退仓's state as that record says it (``DocumentState``, or a
    # ``MalformedRow`` under its id), given with ``record``: the record is written after the
    # hand-over, with the claim's "done", so the follow-up takes the state from here instead of
    # reading it from the record (``Warehouse.store_documents``).
    store_states: tuple[Any, ...] = ()


@dataclass(frozen=True)
class OpenDocument:
    """A document the bridge created at a cloud WMS (a store order, 配货, 退仓 or return) that
    the WMS has not finished, and when the bridge last had news of it (a confirm, or a question
    answered with nothing new). ``unfinished``: a catch-up took a message for it whose hand-over
    was not reported done (``CloudWarehouse.handed_over``), finished document or not; it is due
    at once, and ``missed_confirm`` gives that message again."""

    code: str
    kind: str
    last_news: datetime
    unfinished: bool = False


@dataclass(frozen=True)
class OpenDocuments:
    """The open documents of the kinds the tenant's catch-up asks about, with its settings:
    ``quiet_minutes`` without news before a document is asked for, ``per_run`` asked a run."""

    documents: tuple[OpenDocument, ...]
    quiet_minutes: int
    per_run: int


@dataclass(frozen=True)
class Carrier:
    """A carrier as the store system knows it."""

    code: str
    name: str | None = None


@dataclass(frozen=True)
class StoreDocument:
    """A 配货 (``to_store``: the warehouse sends goods to a store, S5 / Q3) or 退仓
    (``from_store``: the warehouse takes goods back, S6 / Q4) document, or one part of a long
    one. ``doc_no`` is the number the warehouse keys it by (the store's, ``-n`` for a part)."""

    direction: Literal["to_store", "from_store"]
    doc_no: str
    store_code: str
    store_name: str | None
    lines: tuple[SkuQty, ...]
    remark: str


@dataclass(frozen=True)
class DocumentAccepted:
    warehouse_doc_id: str
    warehouse_code: str        # where the document lives (JST wms_co_id)
    already_there: bool = False  # the warehouse held it already: an earlier attempt's answer was lost
    document: str = ""  # what the warehouse calls it, for timelines (e.g. 调拨单)
    # The warehouse that must still take the goods in once they left (a JST 调拨单's receiving
    # warehouse), a step a person does in the warehouse system: empty when shipping ends it.
    receive_at: str = ""


DocumentStatus = Literal["waiting", "confirmed", "voided"]


@dataclass(frozen=True)
class DocumentState:
    """What the warehouse did with a StoreDocument: ``confirmed`` with the quantities it
    really moved, ``voided`` (``detail`` says how), or still ``waiting``."""

    warehouse_doc_id: str
    status: DocumentStatus
    detail: str = ""
    lines: tuple[SkuQty, ...] = ()
    confirmed_at: str | None = None  # wall time as in Shipment.shipped_at


@dataclass(frozen=True)
class StockLocation:
    """A warehouse whose stock the store system shows: ``warehouse_code`` (the warehouse's own
    code) is shown as the store system's ``pos_code`` (a warehouse, or a store's own stock)."""

    warehouse_code: str
    pos_code: str


@dataclass(frozen=True)
class StockLevel:
    """A SKU's stock in one warehouse. ``figures`` are the warehouse's named quantities
    (qty, virtual_qty, order_lock, ...) for the tenant's stock formula; ``version`` orders two
    readings of one SKU (a higher one is newer)."""

    sku_id: str
    figures: Mapping[str, Decimal]
    version: int


def version_read_within(second_ms: int, read_ms: int) -> int:
    """The version of a level whose ERP time has whole seconds only (``second_ms``, in ms), read
    at ``read_ms``: that second, then how far into it the read came (999 once it is over). Two
    changes within one second carry the same ERP time; the later read saw the later one (or the
    same), so it carries the higher version, and every read after the second carries the same one
    (a re-read of an unchanged level is a duplicate)."""
    return second_ms + min(max(read_ms - second_ms, 0), 999)


@dataclass(frozen=True)
class StockPage:
    # A row the warehouse listed that cannot be read is a ``MalformedRow`` in its place (parked).
    levels: list["StockLevel | MalformedRow"]
    next_cursor: str  # hand it back to read on from here


@dataclass(frozen=True)
class WarehouseInfo:
    """How flows name the warehouse in timelines and metrics (``jst``, ``qimen``)."""

    system: str
    max_document_lines: int = 0  # a StoreDocument may carry at most this many lines (0: no limit)
    extra: dict[str, object] = field(default_factory=dict)


# --- the port -------------------------------------------------------------------------------------


class StockSource(Protocol):
    """Who holds stock levels the store system shows: the warehouse (S3 / Q5) and, for the
    store warehouses when the ERP is stock master, the ERP (S4e)."""

    def stock_locations(self) -> list[StockLocation]:
        """Every warehouse of this tenant, held here, whose stock the store system may show."""

    def stock_changes(self, warehouse_code: str, since: str | None) -> StockPage:
        """Levels changed since the cursor ``since`` (None: every level)."""

    def stock_of(self, warehouse_code: str, sku_ids: Sequence[str]) -> list[StockLevel]:
        """The current levels of these SKUs (a SKU the warehouse does not hold is left out)."""


class Warehouse(StockSource, Protocol):
    """S2, S5, S6 and S3 (Q1–Q5). Stock: ``stock_locations`` lists the warehouses that are not
    a store's own."""

    info: WarehouseInfo

    # S2 / Q1: store orders shipped by the warehouse.
    def submit_order(self, order: StoreOrder) -> OrderAccepted:
        """Ask the warehouse to ship ``order``. Once per ``order_no``: a repeat answers the
        first submission's id. WarehouseRefused when the warehouse will not take it."""

    def cancel_order(self, order_no: str, warehouse_order_id: str, reason: str) -> None:
        """The store cancelled ``order_no``. Repeating it is harmless. WarehouseRefused when
        the warehouse cannot cancel (e.g. shipped already)."""

    def submit_return(self, request: ReturnRequest) -> ReturnAccepted:
        """Announce a customer's return of a warehouse-shipped order. Once per ``return_no``."""

    def store_carrier(self, carrier_code: str) -> Carrier:
        """The store system's carrier for the warehouse's ``carrier_code``;
        errors.ConfigurationError (permanent) when the tenant has not mapped it."""

    # What happened to those documents (reads, no effect).
    def shipments_between(self, begin: datetime, end: datetime) -> list[Shipment]:
        """Parcels of store orders shipped (or changed) in [begin, end]."""

    def shipments_of(self, order_nos: Sequence[str]) -> list[Shipment]:
        """Every parcel the warehouse holds for these store orders."""

    def cancelled_of(self, order_nos: Sequence[str]) -> list[OrderCancelled]:
        """Those of these store orders the warehouse holds as cancelled."""

    def cancelled_between(self, begin: datetime, end: datetime) -> list[OrderCancelled]:
        """Store orders the warehouse cancelled (or that changed while cancelled) in [begin, end]."""

    def receipts_between(self, begin: datetime, end: datetime) -> list[ReturnReceived]:
        """Return receipts (and receipts taken back) in [begin, end], oldest first."""

    def receipts_of(self, *, order_nos: Sequence[str] = (),
                    warehouse_return_ids: Sequence[str] = ()) -> list[ReturnReceived]:
        """The receipts the warehouse holds for returns of these orders or with these ids, oldest first."""

    # S5 / S6 (Q3 / Q4): goods to and from the stores.
    def send_to_store(self, document: StoreDocument) -> DocumentAccepted:
        """配货: the warehouse is to send ``document``'s goods to its store. Once per ``doc_no``."""

    def take_back_from_store(self, document: StoreDocument) -> DocumentAccepted:
        """退仓: the warehouse is to receive ``document``'s goods from its store. Once per ``doc_no``."""

    def store_documents(self, warehouse_doc_ids: Sequence[str]) -> list["DocumentState | MalformedRow"]:
        """The state of these documents; a document the warehouse does not list is left out, one
        it lists but that cannot be read is a ``MalformedRow`` keyed by its document id."""

    def awaiting_receipt(self, warehouse_code: str, sku_ids: Sequence[str]) -> dict[str, int]:
        """Goods sent to ``warehouse_code`` (a ``DocumentAccepted.receive_at``) that it has not
        taken in yet, per SKU (JST: 调拨在途); a SKU with nothing on the way is 0 or left out."""

class WmsMessage(Protocol):
    """An authenticated message a cloud WMS signed itself (a confirm, a stock report), or one
    the bridge rebuilt from what the WMS holds (a confirm that never arrived)."""

    @property
    def key(self) -> str:
        """What makes the message itself: the same message delivered twice has the same key."""

    @property
    def trace_key(self) -> str:
        """Where its steps are kept in the timeline (the document it is about)."""


class CloudWarehouse(Warehouse, Protocol):
    """A warehouse that is not the ERP's own and tells what it did itself (a 3PL WMS over
    奇门, Q1-Q6): its signed messages, taken once each by flows/cloud_warehouse.py, and the
    questions the bridge asks when they stop coming."""

    def message_record(self, message: WmsMessage) -> tuple[str, str] | None:
        """The adapter's record the message is added up on (its document's): ``(kind, key)`` for
        the caller to claim (kit.claim_document) before ``take_message``; None when the message
        adds nothing up (a stock report)."""

    def take_message(self, message: WmsMessage, record: Mapping[str, Any] | None = None) -> WarehouseNews:
        """Add the message up against the adapter's own record of the documents it created
        (``record``: that record's data as the caller's claim read it; then it is not read again,
        and the news carries what it becomes, for the caller to write with its "done"):
        a parcel (by its package code or tracking no.) counted once whatever message brings
        it, units beyond the plan kept out of the news (and raised for a person). Taking the
        same message again gives the news it gave (what was recorded of it, so a hand-over
        that failed is made good) and counts nothing twice. Once a catch-up took part of a
        document, a message whose quantities cannot be told apart is read against what the WMS
        holds. ``UnknownWarehouseDocument`` for a document the bridge did not create."""

    def open_documents(self) -> OpenDocuments:
        """The documents the WMS has not finished, of the kinds the tenant's catch-up asks
        about, with the tenant's quiet time and share a run (the caller picks the due ones)."""

    def missed_confirm(self, code: str) -> WmsMessage | None:
        """Ask the WMS how it holds one of those documents: what it holds that the adapter's
        record lacks (a confirm that never arrived), as a message for ``take_message``; None
        when nothing is new (the document waits its quiet time again) or it is not open. For a
        document whose catch-up message is not handed over yet (``handed_over``), that same
        message again, without asking the WMS.
        TransientError: ask again next run; ``UnreadableWarehouseAnswer``: the answer cannot be
        read (the document waits its quiet time again); another PermanentError: the WMS
        refused the question for good (e.g. it does not know the document)."""

    def handed_over(self, code: str, key: str) -> None:
        """The catch-up's message ``key`` (from ``missed_confirm``) for document ``code`` was taken
        and its news handed over. Until this is said, the catch-up is the message's only sender:
        the document stays in ``open_documents`` (``unfinished``) and ``missed_confirm`` gives the
        same message (the same key) again, so a run that died between the adapter's write and
        the hand-over is finished by the next one. Saying it twice is harmless."""

    def raise_for_a_person(self, code: str, reason: str, error: Exception) -> None:
        """Keep what went wrong with one of the bridge's documents as an exception for a person
        (``o2o exceptions list``), once per distinct error."""

    def send_products(self, products: Sequence[Any]) -> dict[str, int]:
        """Products (the store's item fields) to the WMS, new ones added and known ones
        updated; returns {"added": n, "updated": m}. Sending a product twice changes nothing."""
