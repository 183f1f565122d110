"""S7 商品资料: the ERP's product master → 店+ products (P9), hourly and as a first backfill,
over the Erp port (``erp.changed_products``).

- Reads the ERP's SKUs, or its styles with their SKUs when the tenant pulls SPU, by
  **modified window**: the ERP takes a bounded span a call (``erp.info.max_product_window``,
  JST 7 days), so a longer gap is read window by window, and the cursor ``products.modified``
  moves after each window is sent. Each run starts ``OVERLAP`` before the cursor (a record modified at a window
  edge is read twice, never skipped); a repeat is an idempotent upsert at the store.
- Maps each SKU with the store's field map (docs/architecture.md) and the tenant's ``products``
  options (``map_product``) and upserts them in batches of ``BATCH``.
- An item that fails (a row the ERP lists that cannot be read, mapping, a refused item, a failed
  batch) is set aside like every poll's failing record (kit.set_aside): parked on the DLQ with its
  reason and the ERP's record of it (a store outage: queued for the retry worker), on its
  timeline (key: the sku_id), listed by `o2o products failed`; the rest go on, and
  `o2o dlq replay` sends it again (re-read and re-mapped with the current options) after the fix.
  A later success clears it from the list.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from ..errors import PermanentError, TransientError

from ..connectors.paging import split_window
from ..ports.erp import ErpProduct
from ..ports.state import MalformedRow
from . import kit

if TYPE_CHECKING:
    from ..connectors.store import models as pos
    from ..tenant import ProductOptions
    from .kit import FlowContext

CURSOR = "products.modified"
OVERLAP = timedelta(minutes=10)
FIRST_LOOKBACK = timedelta(days=1)  # a tenant's first hourly run; history comes from `o2o products backfill`
BATCH = 100  # P9 items per call (the contract gives no maximum; small batches isolate failures)
# Failures recorded by bridges before they were set aside like every poll's (one per SKU): the
# hourly run sends each once more and, if it still fails, sets it aside.
LEGACY_FAILED = "product.failed"
SEND_AGAIN = "products.send_again"  # the retry command of a product set aside
DONE_STATUSES = frozenset({"created", "updated", "unchanged", "skipped"})  # skipped: auto_create is off
TIME_RESERVE_SECONDS = 20  # stop before the Lambda's timeout; the cursor says where to resume

Progress = Callable[[dict[str, Any]], None]


class MappingError(PermanentError):
    """A product the store cannot take as it is (no name, a negative price, ...)."""


# --- the hourly run and the backfill ----------------------------------------------------------


def sync_products(ctx: "FlowContext") -> dict[str, Any]:
    """sync_products (hourly): every window since the cursor (and, once, failures an earlier
    version of the bridge recorded)."""
    cursor = ctx.cursors.get(ctx.ent_id, CURSOR)
    now = ctx.now()
    begin = datetime.fromisoformat(cursor.value) - OVERLAP if cursor else now - FIRST_LOOKBACK
    legacy = _send_legacy_failures(ctx)
    summary = sync_range(ctx, min(begin, now), now, advance_cursor=True)
    return {**summary, **({"legacy_failures_sent_again": legacy} if legacy else {})}


def backfill(ctx: "FlowContext", since: datetime, *, progress: Progress | None = None) -> dict[str, Any]:
    """`o2o products backfill --since DATE`: every product modified since ``since``, window by
    window, with a progress line per window. The hourly cursor is moved to the end unless it
    is already newer (the hourly run then goes on from there)."""
    now = ctx.now()
    summary = sync_range(ctx, since, now, advance_cursor=False, progress=progress)
    if not summary["stopped_early"]:
        cursor = ctx.cursors.get(ctx.ent_id, CURSOR)
        if cursor is None or datetime.fromisoformat(cursor.value) < now:
            ctx.cursors.advance(ctx.ent_id, CURSOR, now.isoformat(), cursor.version if cursor else None)
    return summary


def sync_range(ctx: "FlowContext", begin: datetime, end: datetime, *, advance_cursor: bool,
               progress: Progress | None = None) -> dict[str, Any]:
    """Read and send [begin, end] in windows of ≤ 7 days; returns the counts."""
    windows = split_window(begin, end, ctx.erp.info.max_product_window)
    totals = {"windows": 0, "read": 0, "selected": 0, "sent": 0, "failed": 0, "parked": 0, "queued": 0,
              "stopped_early": False}
    cursor = ctx.cursors.get(ctx.ent_id, CURSOR) if advance_cursor else None
    version = cursor.version if cursor else None
    for number, (start, stop) in enumerate(windows, start=1):
        if ctx.time_left() < TIME_RESERVE_SECONDS:
            totals["stopped_early"] = True
            break
        counts = sync_window(ctx, start, stop)
        for name, value in counts.items():
            totals[name] += value
        totals["windows"] += 1
        if advance_cursor:
            if not ctx.cursors.advance(ctx.ent_id, CURSOR, stop.isoformat(), version):
                totals["stopped_early"] = True  # another run moved the cursor: it goes on from there
                break
            version = (version or 0) + 1
        if progress:
            progress({"window": number, "windows": len(windows), "begin": start, "end": stop, **counts})
    ctx.metric("ProductsSent", totals["sent"])
    if totals["failed"]:
        ctx.metric("ProductsFailed", totals["failed"])
    return totals


def sync_window(ctx: "FlowContext", begin: datetime, end: datetime) -> dict[str, int]:
    """One window: read the ERP, map, keep the labelled ones, send."""
    options = ctx.tenant.products
    found = ctx.erp.changed_products(begin, end, by_style=options.pull_spu)
    selected = [p for p in found if isinstance(p, MalformedRow) or _labelled(p, options.only_label)]
    counts = send(ctx, selected)
    return {"read": len(found), "selected": len(selected), **counts}


def _send_legacy_failures(ctx: "FlowContext") -> int:
    """Failures recorded as ``product.failed`` by an earlier version: sent once more (set aside
    if they still fail), then forgotten."""
    waiting = ctx.records.list(ctx.ent_id, LEGACY_FAILED)
    if not waiting:
        return 0
    products: list[Any] = []
    for record in waiting:
        data = {k: v for k, v in record.data.items()
                if k not in ("error", "attempts", "first_failed_at", "last_failed_at")}
        try:
            products.append(ctx.erp.product_again(data))
        except Exception as exc:  # noqa: BLE001 - it cannot be read again: set aside with the reason
            kit.set_aside(ctx, send_again, {"record": data}, trace_key=record.key, error=exc)
    send(ctx, products)
    for record in waiting:
        ctx.records.delete(ctx.ent_id, LEGACY_FAILED, record.key)
    return len(waiting)


# --- sending ----------------------------------------------------------------------------------


def send(ctx: "FlowContext", products: list[Any]) -> dict[str, int]:
    """Map and upsert ``products`` in batches; a product that fails is set aside (kit.set_aside)
    and the rest go on, a success clears the product from the set-aside ones. Returns the counts
    (sent, failed = parked + queued)."""
    parked_before = _set_aside_products(ctx) if products else {}
    options = ctx.tenant.products
    ready: list[tuple[ErpProduct, "pos.Product"]] = []

    def map_one(product: ErpProduct) -> str:
        try:
            ready.append((product, map_product(product, options, erp_name=ctx.erp.info.display_name)))
        except Exception as exc:  # a mapping error or a bug: on the product's timeline, then set aside
            _note_failure(ctx, product, exc)
            raise
        return "mapped"

    counts = kit.each_record(ctx, products, map_one, step=send_again, payload_of=_again_payload,
                             trace_key_of=lambda p: p.sku_id, malformed_payload_of=lambda row: {"record": row.raw})
    sent = 0
    for start in range(0, len(ready), BATCH):
        batch = ready[start:start + BATCH]
        results = _upsert(ctx, batch)
        done = []
        for product, mapped in batch:
            status, error = results.get(product.sku_id, ("failed", TransientError(
                "the store system did not answer for this item")))
            if status in DONE_STATUSES:
                done.append((product, mapped, status))
            else:
                counts[_set_aside(ctx, product, error)] += 1
        refused = _to_cloud_warehouse(ctx, [mapped for _, mapped, _ in done])
        for product, _mapped, status in done:
            if refused is not None:
                counts[_set_aside(ctx, product, MappingError(f"the cloud WMS refused it: {_short(refused)}"))] += 1
                continue
            sent += 1
            marker = parked_before.get(product.sku_id)
            if marker is not None:  # sent after it was set aside: no longer waiting for a person
                ctx.records.delete(ctx.ent_id, kit.PARKED_KIND, marker)
                ctx.timeline.record(product.sku_id, ctx.ent_id, "product.synced",
                                    {"status": status, "after_failure": True})
    failed = sum(counts[k] for k in ("parked", "parked_before", "queued"))
    return {"sent": sent, "failed": failed, "parked": counts["parked"] + counts["parked_before"],
            "queued": counts["queued"]}


def _again_payload(product: ErpProduct) -> dict[str, Any]:
    # The ERP's own record of the product ("source", "row" for JST), to read it again on replay.
    return {"record": dict(product.record)}


def _set_aside(ctx: "FlowContext", product: ErpProduct, error: BaseException) -> str:
    _note_failure(ctx, product, error)
    return kit.set_aside(ctx, send_again, _again_payload(product), trace_key=product.sku_id, error=error)


def _note_failure(ctx: "FlowContext", product: ErpProduct, error: BaseException) -> None:
    ctx.timeline.record(product.sku_id, ctx.ent_id, "product.sync_failed", {"error": _short(error)}, level="warning")


def _set_aside_products(ctx: "FlowContext") -> dict[str, str]:
    """sku_id -> parked marker of the products set aside and not sent since."""
    return {r.data.get("trace_key"): r.key for r in ctx.records.list(ctx.ent_id, kit.PARKED_KIND, prefix=f"{SEND_AGAIN}:")}


def set_aside_products(ctx: "FlowContext") -> list[dict[str, Any]]:
    """`o2o products failed`: each product set aside and not sent since, with its reason."""
    return [{"sku_id": r.data.get("trace_key"), "error": r.data.get("reason"), "since": r.data.get("parked_at")}
            for r in ctx.records.list(ctx.ent_id, kit.PARKED_KIND, prefix=f"{SEND_AGAIN}:")]


@kit.flow_command(SEND_AGAIN)
def send_again(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, int]:
    """A product set aside, read again from the ERP's record of it, mapped with the tenant's
    current options and sent (`o2o dlq replay` after the fix, or the retry worker). Fails (so
    it stays parked) if it still fails."""
    product = ctx.erp.product_again(payload["record"])
    options = ctx.tenant.products
    mapped = map_product(product, options, erp_name=ctx.erp.info.display_name)
    status, error = _upsert(ctx, [(product, mapped)]).get(product.sku_id, ("failed", TransientError(
        "the store system did not answer for this item")))
    if status not in DONE_STATUSES:
        raise error
    refused = _to_cloud_warehouse(ctx, [mapped])
    if refused is not None:
        raise MappingError(f"the cloud WMS refused it: {_short(refused)}")
    marker = _set_aside_products(ctx).get(product.sku_id)
    if marker is not None:
        ctx.records.delete(ctx.ent_id, kit.PARKED_KIND, marker)
    ctx.timeline.record(product.sku_id, ctx.ent_id, "product.synced", {"status": status, "after_failure": True})
    return {"sent": 1}


def _to_cloud_warehouse(ctx: "FlowContext", done: list) -> PermanentError | None:
    """Q6: what reached 店+ also goes to a cloud-warehouse tenant's WMS; the reason if refused
    (the items are then recorded as failed, and the hourly run sends them again)."""
    from . import cloud_warehouse

    try:
        cloud_warehouse.products_to_wms(ctx, [mapped.body() for mapped in done])
    except PermanentError as exc:
        return exc
    return None


def _upsert(ctx: "FlowContext", batch: list) -> dict[str, tuple[str, BaseException | None]]:
    """sku_id -> (status, the error when not done) for one batch. A refused batch is split so
    that one bad item does not fail its neighbours; a transient failure fails the whole batch
    (each item is then queued for the retry worker)."""
    from ..connectors.store import models as pos
    from ..connectors.store.idempotency import content_hash

    options = ctx.tenant.products
    request = pos.ProductBatch(items=[item[1] for item in batch], options=pos.ProductOptions(
        auto_create=options.auto_create, category_once=options.category_once,
        mount_category=options.mount_category, spec_template=options.spec_template,
        # The store's own retail price is kept unless the tenant chose to overwrite it.
        retail_price_on_create=options.price_mode == "on_create"))
    # The store answers a repeated Idempotency-Key with its first answer: a batch that failed
    # for an item must get a new key when it is sent again, so the key names the run too.
    # (An upsert sets absolute values, so one batch applied twice changes nothing.)
    business_key = f"{content_hash(request.body())}@{ctx.now():%Y%m%dT%H%M%S}"
    try:
        answer = ctx.store.upsert_products(request, business_key=business_key)
    except TransientError as exc:
        return {item[0].sku_id: ("failed", exc) for item in batch}
    except PermanentError as exc:
        if len(batch) == 1:
            return {batch[0][0].sku_id: ("refused", exc)}
        middle = len(batch) // 2
        return {**_upsert(ctx, batch[:middle]), **_upsert(ctx, batch[middle:])}
    return {r.sku_code: (r.status, None if r.status in DONE_STATUSES
                         else MappingError(f"refused by the store system ({r.status}): {r.msg or 'no reason given'}"))
            for r in answer.results}


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


# --- the field map (店+ ← the ERP) --------------------------------------------------------------


def map_product(product: ErpProduct, options: "ProductOptions", *, erp_name: str = "the ERP") -> "pos.Product":
    """商品名称, 货号, 商品编码, 条形码, 颜色/尺码 (the spec split by the tenant's template), 品牌,
    分类 (the staging category with 仅同步一次类目), 标准成本价, 标准吊牌价, 标准零售价 (unless the
    tenant never syncs it; kept on existing products unless it overwrites), and the
    tenant's attributes (年份, 季节, ... ← the ERP's custom fields)."""
    color, size = split_spec(product.spec, options.spec_template)
    # 仅同步一次类目: a new product is filed under the staging category (其他); the store keeps
    # whatever category it has after that (P9 options.category_once).
    category = options.staging_category if options.category_once else product.category
    return _product(spu_code=product.style_code or product.sku_id, sku_code=product.sku_id, barcode=product.barcode,
                    name=product.name, color=color or product.color, size=size, brand=product.brand,
                    category=category, cost_price=product.cost_price, tag_price=product.tag_price,
                    retail_price=product.retail_price, attributes=_attributes(options, product), options=options,
                    erp_name=erp_name)


def _product(*, options: "ProductOptions", retail_price: Any, name: str | None, erp_name: str,
             **fields: Any) -> "pos.Product":
    from pydantic import ValidationError

    from ..connectors.store import models as pos

    if not name:
        raise MappingError(f"no name in {erp_name}")
    try:
        return pos.Product(name=name, retail_price=None if options.price_mode == "never" else retail_price, **fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise MappingError(problems) from None


_SPLIT = re.compile(r"[;；,，|/]")
_SIZE_WORDS = ("尺码", "尺寸", "码", "size")
_COLOR_WORDS = ("颜色", "色", "color")


def split_spec(properties_value: str | None, template: str | None) -> tuple[str | None, str | None]:
    """颜色, 尺码 from JST's ``properties_value`` ("白色;M"). The spec template names the order:
    "颜色尺码" (the default) reads color first, "尺码颜色" size first; a lone value is the
    template's first spec. More than two specs: the rest stays with the second."""
    parts = [p.strip() for p in _SPLIT.split(properties_value or "") if p.strip()]
    if not parts:
        return None, None
    first, second = parts[0], (";".join(parts[1:]) or None)
    return (second, first) if _size_first(template) else (first, second)


def _size_first(template: str | None) -> bool:
    text = (template or "").lower()
    size_at = min((text.find(w) for w in _SIZE_WORDS if w in text), default=-1)
    color_at = min((text.find(w) for w in _COLOR_WORDS if w in text), default=-1)
    return size_at >= 0 and (color_at < 0 or size_at < color_at)


def _labelled(product: ErpProduct, label: str | None) -> bool:
    """only_label: only items the ERP labels so (e.g. 店加)."""
    return not label or label in (product.labels or ())


def _attributes(options: "ProductOptions", product: ErpProduct) -> dict[str, str | None]:
    """年份/季节/... ← the tenant's mapping to the ERP's custom fields (JST other_1..10)."""
    found: dict[str, str | None] = {}
    for name, field_name in options.attribute_fields.items():
        value = product.fields.get(field_name)
        found[name] = str(value) if value not in (None, "") else None
    return found


def progress_line(step: dict[str, Any]) -> str:
    """How `o2o products backfill` prints one window."""
    return (f"window {step['window']}/{step['windows']} {step['begin']:%Y-%m-%d %H:%M} → {step['end']:%Y-%m-%d %H:%M}: "
            f"{step['read']} read, {step['selected']} selected, {step['sent']} sent, {step['failed']} failed")
