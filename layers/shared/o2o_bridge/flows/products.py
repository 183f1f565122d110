"""S7 商品资料: JST's product master → 店+ products (P9), hourly and as a first backfill.

- Reads ``/open/sku/query`` (one row per SKU), or ``/open/mall/item/query`` (styles with their
  SKUs) when the tenant pulls SPU, by **modified window**: JST takes at most 7 days a call, so
  a longer gap is read window by window, and the cursor ``products.modified`` moves after each
  window is sent. Each run starts ``OVERLAP`` before the cursor (a record modified at a window
  edge is read twice, never skipped); a repeat is an idempotent upsert at the store.
- Maps each SKU with the field map of ARCHITECTURE.md and the tenant's ``products`` options
  (``map_sku`` / ``map_style``) and upserts them in batches of ``BATCH``.
- An item that fails (mapping, a refused item, a failed batch) is recorded as a
  ``product.failed`` record with its JST row and on its timeline (key: the sku_id); the rest
  go on, and every run first retries the recorded ones (re-mapped with the current options).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from ..errors import PermanentError, TransientError

if TYPE_CHECKING:
    from ..connectors.jushuitan import models as jst
    from ..connectors.store import models as pos
    from ..tenant import ProductOptions
    from .kit import FlowContext

CURSOR = "products.modified"
MAX_WINDOW = timedelta(days=7)  # JST: modified_begin..modified_end at most 7 days
OVERLAP = timedelta(minutes=10)
FIRST_LOOKBACK = timedelta(days=1)  # a tenant's first hourly run; history comes from `o2o products backfill`
BATCH = 100  # P9 items per call (the contract gives no maximum; small batches isolate failures)
FAILED = "product.failed"  # record kind: one per SKU waiting to be sent again
DONE_STATUSES = frozenset({"created", "updated", "unchanged", "skipped"})  # skipped: auto_create is off
TIME_RESERVE_SECONDS = 20  # stop before the Lambda's timeout; the cursor says where to resume

Progress = Callable[[dict[str, Any]], None]


class MappingError(PermanentError):
    """A JST record the store cannot take as it is (no name, a negative price, ...)."""


# --- the hourly run and the backfill ----------------------------------------------------------


def sync_products(ctx: "FlowContext") -> dict[str, Any]:
    """sync_products (hourly): retry recorded failures, then every window since the cursor."""
    cursor = ctx.cursors.get(ctx.ent_id, CURSOR)
    now = ctx.now()
    begin = datetime.fromisoformat(cursor.value) - OVERLAP if cursor else now - FIRST_LOOKBACK
    retried = retry_failed(ctx)
    summary = sync_range(ctx, min(begin, now), now, advance_cursor=True)
    return {**summary, "retried": retried["sent"], "still_failing": retried["failed"]}


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
    from ..connectors.jushuitan.paging import split_window

    windows = split_window(begin, end, MAX_WINDOW)
    totals = {"windows": 0, "read": 0, "selected": 0, "sent": 0, "failed": 0, "stopped_early": False}
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
    """One window (≤ 7 days): read JST, map, keep the labelled ones, send."""
    options = ctx.tenant.products
    if options.pull_spu:
        rows: list[Any] = ctx.jst.query_mall_items(begin=begin, end=end)
        sources = [("style", style, sku.sku_id) for style in rows for sku in style.skus]
    else:
        rows = ctx.jst.query_skus(begin=begin, end=end)
        sources = [("sku", sku, sku.sku_id) for sku in rows]
    selected = [s for s in sources if _labelled(s[0], s[1], s[2], options.only_label)]
    sent, failed = send(ctx, selected)
    return {"read": len(sources), "selected": len(selected), "sent": sent, "failed": failed}


def retry_failed(ctx: "FlowContext") -> dict[str, int]:
    """Send again every SKU a previous run recorded as failed."""
    from ..connectors.jushuitan import models as jst

    waiting = ctx.records.list(ctx.ent_id, FAILED)
    sources = []
    for record in waiting:
        model = jst.MallItem if record.data["source"] == "style" else jst.Sku
        sources.append((record.data["source"], model.model_validate(record.data["row"]), record.key))
    sent, failed = send(ctx, sources, waiting={r.key for r in waiting}) if sources else (0, 0)
    return {"sent": sent, "failed": failed}


# --- sending ----------------------------------------------------------------------------------


def send(ctx: "FlowContext", sources: list[tuple[str, Any, str]], *, waiting: set[str] | None = None) -> tuple[int, int]:
    """Map and upsert ``sources`` ((source, JST row, sku_id)) in batches; every failure is
    recorded, every success clears an earlier failure. Returns (sent, failed)."""
    from ..connectors.jushuitan.paging import batches

    if waiting is None:
        waiting = {r.key for r in ctx.records.list(ctx.ent_id, FAILED)} if sources else set()
    options = ctx.tenant.products
    ready: list[tuple[str, Any, str, "pos.Product"]] = []
    failed = 0
    for source, row, sku_id in sources:
        try:
            ready.append((source, row, sku_id, map_row(source, row, sku_id, options)))
        except (MappingError, ValueError) as exc:
            _failed(ctx, source, row, sku_id, f"cannot map: {_short(exc)}")
            failed += 1
    sent = 0
    for batch in batches(ready, BATCH):
        results = _upsert(ctx, batch)
        for source, row, sku_id, _product in batch:
            status, message = results.get(sku_id, ("failed", "the store system did not answer for this item"))
            if status in DONE_STATUSES:
                sent += 1
                if sku_id in waiting:
                    ctx.records.delete(ctx.ent_id, FAILED, sku_id)
                    ctx.timeline.record(sku_id, ctx.ent_id, "product.synced", {"status": status, "after_failure": True})
            else:
                failed += 1
                _failed(ctx, source, row, sku_id, f"{status}: {message}")
    return sent, failed


def _upsert(ctx: "FlowContext", batch: list) -> dict[str, tuple[str, str]]:
    """sku_id -> (status, message) for one batch. A refused batch is split so that one bad item
    does not fail its neighbours; a transient failure fails the batch for this run only."""
    from ..connectors.store import models as pos
    from ..connectors.store.idempotency import content_hash

    options = ctx.tenant.products
    request = pos.ProductBatch(items=[item[3] for item in batch], options=pos.ProductOptions(
        auto_create=options.auto_create, category_once=options.category_once,
        mount_category=options.mount_category, spec_template=options.spec_template))
    # The store answers a repeated Idempotency-Key with its first answer: a batch that failed
    # for an item must get a new key when it is sent again, so the key names the run too.
    # (An upsert sets absolute values, so one batch applied twice changes nothing.)
    business_key = f"{content_hash(request.body())}@{ctx.now():%Y%m%dT%H%M%S}"
    try:
        answer = ctx.store.upsert_products(request, business_key=business_key)
    except TransientError as exc:
        return {item[2]: ("failed", f"store system unavailable: {_short(exc)}") for item in batch}
    except PermanentError as exc:
        if len(batch) == 1:
            return {batch[0][2]: ("refused", _short(exc))}
        middle = len(batch) // 2
        return {**_upsert(ctx, batch[:middle]), **_upsert(ctx, batch[middle:])}
    return {r.sku_code: (r.status, r.msg or "") for r in answer.results}


def _failed(ctx: "FlowContext", source: str, row: Any, sku_id: str, reason: str) -> None:
    now = ctx.now().isoformat()
    if source == "style":  # keep only the failed SKU of the style
        row = row.model_copy(update={"skus": [s for s in row.skus if s.sku_id == sku_id]})
    data = {"source": source, "row": row.model_dump(mode="json"), "error": reason, "last_failed_at": now}
    for _ in range(3):  # a concurrent run may write the same record: re-read and try again
        existing = ctx.records.get(ctx.ent_id, FAILED, sku_id)
        attempts = (existing.data.get("attempts", 0) if existing else 0) + 1
        first = existing.data.get("first_failed_at", now) if existing else now
        stored = ctx.records.put(ctx.ent_id, FAILED, sku_id, {**data, "attempts": attempts, "first_failed_at": first},
                                 expected_version=existing.version if existing else None)
        if stored is not None:
            break
    ctx.timeline.record(sku_id, ctx.ent_id, "product.sync_failed", {"error": reason, "attempts": attempts},
                        level="warning")


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


# --- the field map (店+ ← JST) ----------------------------------------------------------------


def map_row(source: str, row: Any, sku_id: str, options: "ProductOptions") -> "pos.Product":
    if source == "style":
        sku = next((s for s in row.skus if s.sku_id == sku_id), None)
        if sku is None:
            raise MappingError(f"style {row.i_id} has no SKU {sku_id}")
        return map_style_sku(row, sku, options)
    return map_sku(row, options)


def map_sku(sku: "jst.Sku", options: "ProductOptions") -> "pos.Product":
    """商品名称 ← name; 货号 ← i_id; 商品编码 ← sku_id; 条形码 ← sku_code; 颜色/尺码 ←
    properties_value by the spec template; 品牌 ← brand; 成本价 ← cost_price; 吊牌价 ←
    market_price; 零售价 ← sale_price (unless the tenant keeps the store's); attributes ← other_N."""
    color, size = split_spec(sku.properties_value, options.spec_template)
    return _product(spu_code=sku.i_id or sku.sku_id, sku_code=sku.sku_id, barcode=_barcode(sku),
                    name=sku.name, color=color or _extra(sku, "color"), size=size, brand=sku.brand,
                    category=sku.category or _extra(sku, "vc_name"), cost_price=sku.cost_price,
                    tag_price=sku.market_price, retail_price=sku.sale_price,
                    attributes=_attributes(options, sku), options=options)


def map_style_sku(style: "jst.MallItem", sku: "jst.MallItemSku", options: "ProductOptions") -> "pos.Product":
    """The same map for one SKU of a style (pull SPU): the style gives name, brand and category,
    the SKU its code, spec and prices (the style's when the SKU has none)."""
    color, size = split_spec(sku.properties_value, options.spec_template)
    return _product(spu_code=style.i_id, sku_code=sku.sku_id, barcode=_barcode(sku), name=style.name or _extra(sku, "name"),
                    color=color, size=size, brand=style.brand, category=style.c_name or _extra(sku, "category"),
                    cost_price=_first(sku.cost_price, _extra(style, "c_price")),
                    tag_price=_first(sku.market_price, _extra(style, "market_price")),
                    retail_price=_first(sku.sale_price, _extra(style, "s_price")),
                    attributes=_attributes(options, sku, style), options=options)


def _product(*, options: "ProductOptions", retail_price: Any, name: str | None, **fields: Any) -> "pos.Product":
    from pydantic import ValidationError

    from ..connectors.store import models as pos

    if not name:
        raise MappingError("no name in JST")
    try:
        return pos.Product(name=name, retail_price=retail_price if options.sync_sale_price else None, **fields)
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


def _labelled(source: str, row: Any, sku_id: str, label: str | None) -> bool:
    """only_label: only items JST labels so (e.g. 店加); the SKU's labels, else its style's."""
    if not label:
        return True
    holders = [row]
    if source == "style":
        holders = [s for s in row.skus if s.sku_id == sku_id] + [row]
    for holder in holders:
        labels = getattr(holder, "labels", None) or _extra(holder, "labels")
        if labels:
            values = labels if isinstance(labels, list) else _SPLIT.split(str(labels))
            return label in {str(v).strip() for v in values}
    return False


def _attributes(options: "ProductOptions", *holders: Any) -> dict[str, str | None]:
    """年份/季节/... ← the tenant's mapping to JST custom fields other_1..10."""
    found: dict[str, str | None] = {}
    for name, field_name in options.attribute_fields.items():
        value = next((v for v in (_extra(h, field_name) for h in holders) if v not in (None, "")), None)
        found[name] = str(value) if value is not None else None
    return found


def _barcode(row: Any) -> str | None:
    value = _extra(row, "sku_code") or _extra(row, "barcode")
    return str(value) if value else None


def _extra(row: Any, name: str) -> Any:
    value = getattr(row, name, None) if name in type(row).model_fields else (row.model_extra or {}).get(name)
    return None if value == "" else value


def _first(*values: Any) -> Any:
    return next((v for v in values if v not in (None, "")), None)


def progress_line(step: dict[str, Any]) -> str:
    """How `o2o products backfill` prints one window."""
    return (f"window {step['window']}/{step['windows']} {step['begin']:%Y-%m-%d %H:%M} → {step['end']:%Y-%m-%d %H:%M}: "
            f"{step['read']} read, {step['selected']} selected, {step['sent']} sent, {step['failed']} failed")
