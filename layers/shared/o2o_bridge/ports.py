"""The small typed interfaces flows depend on. Adapters implement them for AWS and the
outside systems; tests implement them in memory (tests/fakes.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Protocol, Sequence

if TYPE_CHECKING:  # keep pydantic models out of cold starts that never need them
    from .connectors.jushuitan import models as jst
    from .connectors.jushuitan.paging import TsPage, TsScan
    from .connectors.store import models as pos
    from .ledger import Fact
    from .retry import DeadLetter, RetryEnvelope
    from .tenant import Tenant


@dataclass(frozen=True)
class DocumentLink:
    """A binder record: our knowledge that one system's document is another's."""

    ent_id: str
    kind: str
    key: str
    other_kind: str
    other_key: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cursor:
    ent_id: str
    name: str
    value: str
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class TimelineEntry:
    """One step in the life of a document, as `o2o trace KEY` prints it."""

    key: str
    ent_id: str
    at: datetime
    step: str
    detail: dict[str, Any]
    level: str = "info"


@dataclass(frozen=True)
class Record:
    """A small piece of flow state: an effect done once, a routing decision, an exception,
    a stock version. ``kind`` groups records of one tenant so they can be listed."""

    ent_id: str
    kind: str
    key: str
    data: dict[str, Any]
    version: int
    updated_at: datetime


class TenantRepository(Protocol):
    def get(self, ent_id: str) -> "Tenant | None": ...
    def put(self, tenant: "Tenant") -> None: ...
    def list_ids(self) -> list[str]: ...


class LinkRepository(Protocol):
    def link(self, link: DocumentLink) -> DocumentLink:
        """Record the link both ways; returns the stored link (the first one wins)."""

    def find(self, ent_id: str, kind: str, key: str, other_kind: str) -> DocumentLink | None: ...


class CursorRepository(Protocol):
    def get(self, ent_id: str, name: str) -> Cursor | None: ...

    def advance(self, ent_id: str, name: str, value: str, expected_version: int | None) -> bool:
        """Move the cursor if nobody else moved it since ``expected_version``; False otherwise."""


class RecordRepository(Protocol):
    """Versioned flow state with conditional writes, so concurrent Lambdas never both win."""

    def get(self, ent_id: str, kind: str, key: str) -> Record | None: ...

    def put(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *,
            expected_version: int | None = None, ttl_days: int | None = None) -> Record | None:
        """Write if the stored version is ``expected_version`` (None: only if absent).
        Returns the new record, or None when someone else wrote first."""

    def delete(self, ent_id: str, kind: str, key: str) -> None: ...

    def list(self, ent_id: str, kind: str, *, prefix: str = "") -> list[Record]:
        """Every record of one kind (keys starting with ``prefix``), in key order."""


class Timeline(Protocol):
    def record(
        self,
        key: str,
        ent_id: str,
        step: str,
        detail: dict[str, Any] | None = None,
        *,
        level: str = "info",
        aliases: tuple[str, ...] = (),
    ) -> None: ...

    def entries(self, key: str) -> list[TimelineEntry]: ...


class Ledger(Protocol):
    """The append-only document ledger (ledger.py): each business fact written once."""

    def append(self, fact: "Fact") -> bool:
        """Write ``fact`` unless a fact with its key is already there; True when written now."""


class CommandQueue(Protocol):
    """Where work that failed transiently waits, and where hopeless work is laid to rest."""

    def enqueue(self, envelope: "RetryEnvelope", delay_seconds: int) -> None: ...
    def dead_letter(self, letter: "DeadLetter") -> None: ...


class SecretResolver(Protocol):
    def resolve(self, reference: str) -> str:
        """The value behind ``secretsmanager:NAME[#json_key]``."""


class JstApi(Protocol):
    """What flows and `o2o tenant doctor` need from Jushuitan. connectors/jushuitan/api.py implements
    it over HTTP (signed, paced, token renewal); tests use in-memory fakes. Errors are
    connectors.jushuitan.errors classes: TransientError (retry later) or PermanentError."""

    def call(self, path: str, biz: Any = None) -> dict[str, Any]:
        """One signed call to any endpoint; JST's whole answer (code 0)."""

    # S1: sales outbounds of the offline warehouse, by ts cursor; confirm them shipped.
    def scan_sales_outbounds(self, *, start_ts: int, wms_co_id: int | None = None, status: str | None = None,
                             shop_id: int | None = None) -> "TsScan": ...
    # The same scan a page (one JST call) at a time, each fetched only when asked for: the S1
    # poll stores the cursor after each handled page and stops between pages when out of time.
    def iter_sales_outbound_pages(self, *, start_ts: int, wms_co_id: int | None = None, status: str | None = None,
                                  shop_id: int | None = None) -> "Iterator[TsPage]": ...
    def sales_outbounds_by_ids(self, io_ids: Sequence[int]) -> "list[jst.SalesOutbound]": ...
    def upload_wms_sent(self, rows: "Sequence[jst.WmsSent]") -> list[Any]: ...
    # S2: store orders into the 自有商城 shop; their state; cancel.
    def upload_orders(self, orders: "Sequence[jst.OrderUpload]") -> "list[jst.UploadResult]": ...
    def query_orders(self, *, shop_id: int, so_ids: Sequence[str]) -> "list[jst.Order]": ...
    def scan_orders(self, *, shop_id: int, start_ts: int) -> "TsScan": ...
    def cancel_orders(self, o_ids: Sequence[int], *, cancel_type: str, remark: str | None = None) -> list[Any]: ...
    # S2x: missed pushes, by modified window (split into ≤ 7-day windows).
    def query_logistics(self, *, shop_id: int, begin: datetime, end: datetime) -> "list[jst.LogisticOrder]": ...
    def query_aftersale_received(self, *, begin: datetime, end: datetime,
                                 shop_id: int | None = None) -> "list[jst.AfterSaleReceived]": ...
    def upload_aftersales(self, rows: "Sequence[jst.AfterSaleUpload]") -> "list[jst.UploadResult]": ...
    # S3 / S4: stock both ways.
    def scan_inventory(self, *, start_ts: int, wms_co_id: int | None = None) -> "TsScan": ...
    def inventory_of(self, sku_ids: Sequence[str], *, wms_co_id: int | None = None) -> "list[jst.Inventory]": ...
    def upload_inventory(self, *, wms_co_id: int, so_id_prefix: str, items: "Sequence[jst.StockItem]",
                         type: str = "check", remark: str | None = None) -> list[dict[str, Any]]: ...
    # S5 / S6: other in/out documents.
    def upload_other_inout(self, doc: "jst.OtherInOutUpload") -> Any: ...
    def query_other_inout(self, *, io_ids: Sequence[int] = (), so_ids: Sequence[str] = (),
                          wms_co_id: int | None = None) -> "list[jst.OtherInOut]": ...
    def scan_other_inout(self, *, start_ts: int, wms_co_id: int | None = None) -> "TsScan": ...
    # S7: product master.
    def query_skus(self, *, begin: datetime, end: datetime) -> "list[jst.Sku]": ...
    def query_mall_items(self, *, begin: datetime, end: datetime) -> "list[jst.MallItem]": ...
    # Base data (o2o tenant doctor).
    def query_shops(self, shop_ids: Iterable[int] = ()) -> "list[jst.Shop]": ...
    def query_warehouses(self) -> "list[jst.WmsPartner]": ...
    def query_logistics_companies(self, wms_co_id: int | None = None) -> "list[jst.LogisticsCompany]": ...


class StoreSystem(Protocol):
    """What flows need from the 店+ store system: P1–P14 of pos-contract.md.
    connectors/store/api.py implements it over HTTP (StoreSystemApi); tests use in-memory fakes.
    Every command is idempotent at the store: the adapter derives the Idempotency-Key from
    ``business_key`` (or from the request's own document keys when it is None). Errors are
    connectors.store.errors classes: PosTransientError (retry later) or PosPermanentError."""

    # S1: store fulfilment of online orders.
    def create_fulfilment_order(self, order: "pos.FulfilmentOrder", *,
                                business_key: str | None = None) -> "pos.FulfilmentCreated": ...
    def cancel_fulfilment_order(self, fulfilment_id: str, reason: str, *,
                                business_key: str | None = None) -> "pos.FulfilmentCancelled": ...
    # S2: store orders shipped or cancelled by the warehouse / ERP; returns received.
    def ship_order(self, order_no: str, shipment: "pos.Shipment", *,
                   business_key: str | None = None) -> "pos.ShipmentCreated": ...
    def cancel_order(self, order_no: str, reason: str, *, business_key: str | None = None) -> "pos.OrderCancelled": ...
    def receive_return(self, return_no: str, receipt: "pos.ReturnReceipt", *,
                       business_key: str | None = None) -> "pos.ReturnReceiptDone": ...
    # S3 / S4: stock (P6 split into ≤ 500 items a call; P8 followed to the last cursor).
    def set_warehouse_stock(self, warehouse_code: str, items: "Iterable[pos.StockLevel]", *,
                            business_key: str | None = None) -> "pos.WarehouseStock": ...
    def store_stock(self, store_code: str, sku_ids: Sequence[str]) -> "pos.StoreStock": ...
    def scan_stock(self, *, updated_since: datetime | str | None = None, limit: int = 200,
                   order: str | None = None, sku_after: str | None = None,
                   quantities_only: bool = False) -> "Iterable[pos.StockRow | tuple[str, str, int]]": ...
    # S7: product master.
    def upsert_products(self, batch: "pos.ProductBatch", *,
                        business_key: str | None = None) -> "pos.ProductResults": ...
    # S5 / S6: replenishment shipped, return-to-warehouse received.
    def transfer_warehouse_shipped(self, doc_no: str, shipped: "pos.TransferShipped", *,
                                   business_key: str | None = None) -> "pos.TransferShippedDone": ...
    def warehouse_return_received(self, doc_no: str, received: "pos.WarehouseReturnReceived", *,
                                  business_key: str | None = None) -> "pos.WarehouseReturnReceivedDone": ...
    # W2: an ERP's stock-in / stock-out documents of a store's warehouse.
    def create_inbound_receipt(self, store_code: str, document: "pos.StoreDocument", *,
                               business_key: str | None = None) -> "pos.InboundReceiptCreated": ...
    def book_outbound_note(self, store_code: str, document: "pos.StoreDocument", *,
                           business_key: str | None = None) -> "pos.OutboundNoteBooked": ...
    # Member merge: one merged profile per person.
    def put_member(self, member_id: str, profile: "pos.MemberProfile", *,
                   business_key: str | None = None) -> "pos.MemberSaved": ...
