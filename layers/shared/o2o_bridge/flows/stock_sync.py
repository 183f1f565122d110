"""Stock both ways (ARCHITECTURE.md S3, S4, S4e), near real time. The 02:10 run is stock_nightly.

S3  JST warehouse stock -> 店+ warehouse stock (P6): the 库存同步 push (``on_stock_push``) and
    the hourly ts-cursor pull (``pull_jst_stock``). Every level carries a version; a stale
    version never overwrites a newer one: the stored level is replaced only by a conditional
    write on its record version, and P6 keeps the higher version as well.
S4e (stock.master: erp) the same path also carries the JST stock of the store warehouses
    (a ``warehouses`` mapping whose pos code is a store code) into the stores' stock.
S4  (stock.master: pos) ``stock.changed`` events only record the store levels (versioned) and
    mark their SKUs dirty; one delayed "flush" per tenant (SQS delay ``coalesce_seconds``)
    aggregates the dirty SKUs over the stores feeding the 店加线下仓, minus safety stock, and
    uploads them to JST in ≤ 500-item ``type=check`` counts with a unique ``so_id`` each.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..errors import BadRequest, PermanentError, TransientError
from ..shanghai_time import from_jst_text
from ..stock_formula import StockFormula
from . import kit, sales_return_stock

if TYPE_CHECKING:
    from ..connectors.jushuitan.push import StockPush
    from ..events.models import PosEvent
    from ..tenant import Tenant, WarehouseMapping
    from .kit import FlowContext

JST_UPLOAD_MAX = 500  # /open/jushuitan/inventoryv2/upload items per call
P6_MAX = 500

# Record kinds (ctx.records). Keys start with the SKU where a flow lists "every store of one SKU".
WAREHOUSE_LEVEL = "stock.warehouse"  # "<pos warehouse code>|<sku>" -> {qty, version, pushed}
STORE_LEVEL = "stock.store"  # "<sku>|<store code>" -> {qty, version}
DIRTY = "stock.dirty"  # "<sku>" -> {at} | {cleared: true}: waits for the next flush
FLUSH = "stock.flush"  # "offline" -> {flush_id, due}: one flush queued per tenant
EVENT_PUSHED = "stock.event_pushed"  # "<sku>" -> {qty, at}: what the event path last sent JST

FLUSH_COMMAND = "stock.flush_offline"
DIRTY_TTL_DAYS = 2
# A queued flush that has not run this long after it was due is presumed lost (the queue
# message went to the DLQ): the next event schedules a new one.
FLUSH_LOST_AFTER = timedelta(minutes=20)


# --- shared rules ----------------------------------------------------------------------------


def publishable(value: Decimal | int) -> int:
    """A quantity another system may show: whole units, never negative."""
    number = Decimal(value).to_integral_value(rounding=ROUND_FLOOR)
    return max(0, int(number))


def jst_version(modified: str | None, ts: int | None = 0) -> int:
    """A JST level's version: its ``modified`` second (Asia/Shanghai), then JST's ts within
    that second. A push carries no ts: within one second the pulled row wins over it."""
    if not modified:
        return int(ts or 0) % 1000
    moment = from_jst_text(modified)
    if moment is None:
        raise ValueError(f"JST modified time {modified!r} is not yyyy-MM-dd HH:mm:ss")
    return int(moment.timestamp()) * 1000 + int(ts or 0) % 1000


def store_warehouse_codes(tenant: "Tenant") -> set[str]:
    return {store.code for store in tenant.stores}


def warehouses_from_jst(tenant: "Tenant") -> list["WarehouseMapping"]:
    """The mapped JST warehouses whose stock flows to 店+. A store's own warehouse only when
    JST is the stock master (S4e); when the store system is, store stock is never overwritten."""
    stores = store_warehouse_codes(tenant)
    # Never 店加线下仓: the stores feed it, so its stock in 店+ would count them twice (a loop);
    # `tenant doctor` refuses that mapping, and a tenant stored before the rule is safe too.
    return [w for w in tenant.warehouses if w.jst_wms_co_id != tenant.jushuitan.offline_wms_co_id
            and (tenant.stock.master == "erp" or w.pos_warehouse_code not in stores)]


def feeding_stores(tenant: "Tenant") -> dict[str, int]:
    """Store code -> its safety stock, for the stores that feed the 店加线下仓."""
    return {s.code: s.safety_stock or 0 for s in tenant.stores if s.feeds_offline}


def offline_quantity(tenant: "Tenant", levels: dict[str, int]) -> int:
    """S4: what JST's offline warehouse shows for one SKU, from the feeding stores' levels.

    Each store adds what it holds above its own safety stock (an oversold, negative store
    adds nothing); the tenant's safety stock comes off the total; never negative."""
    safety = feeding_stores(tenant)
    total = sum(max(0, qty - safety[store]) for store, qty in levels.items() if store in safety)
    return max(0, total - tenant.stock.safety_stock)


def formula_for(tenant: "Tenant") -> StockFormula:
    return StockFormula(tenant.stock.formula)


def _stable_hash(value: Any) -> str:
    return kit.digest(value)[:16]


# --- versioned levels --------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    sku_id: str
    qty: int
    version: int
    record_version: int


def claim_newer(ctx: "FlowContext", kind: str, key: str, qty: int, version: int, *,
                resend_unpushed: bool = False) -> tuple[str, Claim | None]:
    """Store ``(qty, version)`` unless the stored version is newer; conditional on the record
    version, so two Lambdas racing on one level never let the older one win.

    Returns ("new", claim), ("resend", claim) for the same version not yet pushed (a retry),
    ("duplicate", None) or ("stale", None)."""
    for _ in range(8):
        current = ctx.records.get(ctx.ent_id, kind, key)
        if current is not None:
            stored = int(current.data.get("version", -1))
            if stored > version:
                return "stale", None
            if stored == version:
                if resend_unpushed and not current.data.get("pushed", True):
                    return "resend", Claim(key, qty, version, current.version)
                return "duplicate", None
        written = ctx.records.put(ctx.ent_id, kind, key, {"qty": qty, "version": version, "pushed": False},
                                  expected_version=current.version if current else None)
        if written is not None:
            return "new", Claim(key, qty, version, written.version)
    raise TransientError(f"stock level {key} is being written by many workers at once; try again")


# --- S3 / S4e: JST -> 店+ ---------------------------------------------------------------------


@kit.flow_command("stock.set_warehouse")
def set_warehouse_stock(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """Levels ``{sku_id, qty, version}`` of one 店+ warehouse (or store, S4e): the newer ones
    to P6, each once. Payload: ``warehouse_code``, ``items``."""
    from ..connectors.store.models import StockLevel

    code = payload["warehouse_code"]
    fresh: list[Claim] = []
    counts = {"received": len(payload["items"]), "stale": 0, "duplicate": 0}
    for item in payload["items"]:
        outcome, claim = claim_newer(ctx, WAREHOUSE_LEVEL, f"{code}|{item['sku_id']}", int(item["qty"]),
                                     int(item["version"]), resend_unpushed=True)
        if claim is None:
            counts[outcome] += 1
        else:
            fresh.append(Claim(item["sku_id"], claim.qty, claim.version, claim.record_version))
    for start in range(0, len(fresh), P6_MAX):
        part = fresh[start:start + P6_MAX]
        levels = [StockLevel(sku_id=c.sku_id, qty=c.qty, version=c.version) for c in part]
        # The same levels give the same Idempotency-Key: a retry is answered, not applied twice.
        ctx.store.set_warehouse_stock(code, levels, business_key=_stable_hash([code, [l.body() for l in levels]]))
        for c in part:
            ctx.records.put(ctx.ent_id, WAREHOUSE_LEVEL, f"{code}|{c.sku_id}",
                            {"qty": c.qty, "version": c.version, "pushed": True}, expected_version=c.record_version)
    counts["applied"] = len(fresh)
    ctx.metric("StockLevelsApplied", len(fresh))
    return counts


def mapping_for(tenant: "Tenant", wms_co_id: int) -> "WarehouseMapping":
    for mapping in tenant.warehouses:
        if mapping.jst_wms_co_id == wms_co_id:
            return mapping
    raise BadRequest(f"JST warehouse {wms_co_id} is not mapped for tenant {tenant.ent_id}")


def levels_from_inventory(tenant: "Tenant", rows: Iterable[Any]) -> list[dict[str, Any]]:
    """JST inventory rows -> 店+ levels through the tenant's stock formula."""
    formula = formula_for(tenant)
    return [{"sku_id": row.sku_id, "qty": publishable(formula.evaluate(row.formula_values())),
             "version": jst_version(row.modified, row.ts)} for row in rows]


def on_stock_push(tenant: "Tenant", storage_code: str, push: "StockPush") -> dict[str, Any]:
    """S3: a 库存同步 push names SKUs whose stock changed; it is a signal, not a figure.

    JST's push is shop-level: its ``qty`` is what JST syncs to the 自有商城 shop (its own
    shop-stock rule over every warehouse), not the stock of the warehouse in ``storageCode``.
    So the named SKUs' inventory of that warehouse is read again and put through the tenant's
    formula, exactly as the hourly pull does: both write the same figure with the same
    version, and they can never alternate values. Done (P6) or durably queued on return."""
    ctx = kit.context_for(tenant)
    mapping = mapping_for(tenant, int(storage_code))
    trace = f"stock:{mapping.pos_warehouse_code}"
    sku_ids = sorted({row.sku_id for row in push.datas})
    if mapping not in warehouses_from_jst(tenant):
        ctx.timeline.record(trace, ctx.ent_id, "stock.push.ignored",
                            {"reason": "store stock master is the store system (stock.master: pos); "
                                       "JST stock of a store warehouse is not written to the store",
                             "skus": len(sku_ids)})
        return {"ignored": len(sku_ids)}
    result = kit.attempt(ctx, reread_stock, {"wms_co_id": mapping.jst_wms_co_id, "sku_ids": sku_ids},
                         trace_key=trace)
    ctx.timeline.record(trace, ctx.ent_id, "stock.push.received",
                        {"wms_co_id": mapping.jst_wms_co_id, "skus": sku_ids[:20], "count": len(sku_ids),
                         "result": result if result is not None else "queued for retry"})
    return result or {"queued": len(sku_ids)}


@kit.flow_command("stock.reread")
def reread_stock(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """The named SKUs' JST inventory of one mapped warehouse, through the tenant's formula, to
    its 店+ warehouse (and the 销退仓 part to the return warehouse). Payload: wms_co_id, sku_ids."""
    from ..connectors.jushuitan.paging import batches

    mapping = mapping_for(ctx.tenant, int(payload["wms_co_id"]))
    rows = [row for part in batches(list(payload["sku_ids"]), 100)  # inventory query: ≤ 100 SKUs a call
            for row in ctx.jst.inventory_of(part, wms_co_id=mapping.jst_wms_co_id)]
    counts: dict[str, Any] = {"read": len(rows), **_apply_levels(ctx, mapping.pos_warehouse_code,
                                                                  levels_from_inventory(ctx.tenant, rows))}
    returns = sales_return_stock.return_levels(ctx.tenant, mapping.jst_wms_co_id, rows)
    if returns:
        counts["sales_return"] = {"warehouse": returns[0], **_apply_levels(ctx, *returns)}
    return counts


def pull_jst_stock(ctx: "FlowContext") -> dict[str, Any]:
    """S3/S4e hourly: every mapped warehouse's changes since its ts cursor -> P6."""
    from ..connectors.jushuitan.paging import batches

    summary: dict[str, Any] = {}
    for mapping in warehouses_from_jst(ctx.tenant):
        if ctx.time_left() < 60:
            summary[str(mapping.jst_wms_co_id)] = "left for the next run (time)"
            continue
        name = f"stock.inventory.{mapping.jst_wms_co_id}"
        cursor = ctx.cursors.get(ctx.ent_id, name)
        scan = ctx.jst.scan_inventory(start_ts=int(cursor.value) if cursor else 0, wms_co_id=mapping.jst_wms_co_id)
        items = levels_from_inventory(ctx.tenant, scan.records)
        counts = _apply_levels(ctx, mapping.pos_warehouse_code, items)
        returns = sales_return_stock.return_levels(ctx.tenant, mapping.jst_wms_co_id, scan.records)
        if returns:  # its 销退仓 part to the 店+ return warehouse (code 2)
            counts["sales_return"] = {"warehouse": returns[0], **_apply_levels(ctx, *returns)}
        # Only after the levels are applied or durably queued: a crash re-reads them.
        ctx.cursors.advance(ctx.ent_id, name, str(scan.next_ts), cursor.version if cursor else None)
        summary[str(mapping.jst_wms_co_id)] = {"read": len(items), **counts, "next_ts": scan.next_ts}
    return summary


def _apply_levels(ctx: "FlowContext", code: str, levels: list[dict[str, Any]]) -> dict[str, int]:
    """P6 in parts of 500 (each a step of its own): applied, unchanged and queued counts."""
    from ..connectors.jushuitan.paging import batches

    applied = stale = queued = 0
    for part in batches(levels, P6_MAX):
        result = kit.attempt(ctx, set_warehouse_stock, {"warehouse_code": code, "items": part},
                             trace_key=f"stock:{code}")
        if result is None:
            queued += len(part)
        else:
            applied += result["applied"]
            stale += result["stale"] + result["duplicate"]
    return {"applied": applied, "unchanged": stale, "queued": queued}


# --- S4: store events -> JST offline warehouse, coalesced ------------------------------------------


def on_stock_changed(event: "PosEvent", tenant: "Tenant") -> None:
    """A store's stock changed: record the levels (a stale version changes nothing), mark
    the SKUs dirty and make sure one flush is queued. No JST call here."""
    ctx = kit.context_for(tenant)
    data = event.data
    trace = f"stock:{data.store_code}"
    reason = None
    if tenant.stock.master == "erp":
        reason = "stock.master is erp: JST owns store stock, store events are not pushed"
    elif data.store_code not in feeding_stores(tenant):
        reason = (f"store {data.store_code} is not a store of this tenant" if data.store_code
                  not in store_warehouse_codes(tenant) else f"store {data.store_code} does not feed the 店加线下仓")
    if reason:
        ctx.timeline.record(trace, ctx.ent_id, "stock.changed.ignored",
                            {"event_id": event.event_id, "reason": reason, "skus": len(data.items)})
        return
    changed = []
    for item in data.items:
        outcome, _ = claim_newer(ctx, STORE_LEVEL, f"{item.sku_id}|{data.store_code}", item.qty, item.version)
        if outcome == "new":
            changed.append(item.sku_id)
    for sku in changed:
        _mark_dirty(ctx, sku)
    flush = schedule_flush(ctx) if changed else None
    ctx.timeline.record(trace, ctx.ent_id, "stock.changed.recorded",
                        {"event_id": event.event_id, "changed": changed[:20], "count": len(changed),
                         "unchanged": len(data.items) - len(changed), "flush": flush})


def _mark_dirty(ctx: "FlowContext", sku: str) -> None:
    # Always a new record version: a flush that read the older one cannot clear this change.
    for _ in range(8):
        current = ctx.records.get(ctx.ent_id, DIRTY, sku)
        if ctx.records.put(ctx.ent_id, DIRTY, sku, {"at": ctx.now().isoformat()},
                           expected_version=current.version if current else None, ttl_days=DIRTY_TTL_DAYS):
            return
    raise TransientError(f"stock SKU {sku} is being marked by many workers at once; try again")


def schedule_flush(ctx: "FlowContext") -> str:
    """One delayed flush per tenant: the first event of a window queues it, the others ride along."""
    delay = ctx.tenant.stock.coalesce_seconds
    now = ctx.now()
    current = ctx.records.get(ctx.ent_id, FLUSH, "offline")
    if current is not None and datetime.fromisoformat(current.data["due"]) + FLUSH_LOST_AFTER > now:
        return "already queued"
    flush_id = uuid.uuid4().hex[:12]
    claim = ctx.records.put(ctx.ent_id, FLUSH, "offline",
                            {"flush_id": flush_id, "due": (now + timedelta(seconds=delay)).isoformat()},
                            expected_version=current.version if current else None, ttl_days=DIRTY_TTL_DAYS)
    if claim is None:
        return "already queued"
    from ..retry import RetryEnvelope  # only store events pay for the envelope model

    try:
        ctx.queue.enqueue(RetryEnvelope(command=FLUSH_COMMAND, ent_id=ctx.ent_id, payload={"flush_id": flush_id},
                                        trace_key="stock:offline"), delay)
    except BaseException:
        ctx.records.delete(ctx.ent_id, FLUSH, "offline")  # not queued: the event is not acknowledged
        raise
    return f"queued in {delay} s"


@kit.flow_command(FLUSH_COMMAND)
def flush_offline_stock(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """The dirty SKUs, aggregated over the feeding stores, to the JST offline warehouse."""
    # Let the next event queue the next flush: whatever it changes after this line is either
    # read below or left dirty for that flush.
    marker = ctx.records.get(ctx.ent_id, FLUSH, "offline")
    if marker is not None and marker.data.get("flush_id") == payload.get("flush_id"):
        ctx.records.delete(ctx.ent_id, FLUSH, "offline")
    dirty = [r for r in ctx.records.list(ctx.ent_id, DIRTY) if not r.data.get("cleared")]
    if not dirty:
        return {"skus": 0, "uploads": 0}
    if ctx.tenant.stock.master != "pos":  # switched to erp since the events came: JST owns the stock now
        for record in dirty:
            ctx.records.put(ctx.ent_id, DIRTY, record.key, {"cleared": True, "at": ctx.now().isoformat()},
                            expected_version=record.version, ttl_days=DIRTY_TTL_DAYS)
        ctx.timeline.record("stock:offline", ctx.ent_id, "stock.offline.skipped",
                            {"reason": "stock.master is erp: store stock is not pushed to JST", "skus": len(dirty)})
        return {"skus": 0, "skipped": len(dirty)}
    skus = [r.key for r in dirty]
    quantities = offline_quantities(ctx, skus)
    items = [{"sku_id": sku, "qty": quantities[sku]} for sku in skus]
    flush_id = payload.get("flush_id") or "manual"
    uploads = upload_offline_stock(ctx, items, so_id_base=f"O2O-S4-{flush_id}-{_stable_hash(items)[:8]}",
                                   remark="店+ store stock (near real time)")
    now = ctx.now().isoformat()
    for record in dirty:
        ctx.records.put(ctx.ent_id, EVENT_PUSHED, record.key, {"qty": quantities[record.key], "at": now},
                        expected_version=_version_of(ctx, EVENT_PUSHED, record.key), ttl_days=DIRTY_TTL_DAYS)
        # Conditional: a SKU marked again while we pushed stays dirty for the next flush.
        ctx.records.put(ctx.ent_id, DIRTY, record.key, {"cleared": True, "at": now},
                        expected_version=record.version, ttl_days=DIRTY_TTL_DAYS)
    ctx.timeline.record("stock:offline", ctx.ent_id, "stock.offline.uploaded",
                        {"wms_co_id": ctx.tenant.jushuitan.offline_wms_co_id, "skus": len(items),
                         "so_ids": uploads, "sample": items[:10]})
    ctx.metric("StockSkusPushed", len(items))
    return {"skus": len(items), "uploads": len(uploads)}


def _version_of(ctx: "FlowContext", kind: str, key: str) -> int | None:
    record = ctx.records.get(ctx.ent_id, kind, key)
    return record.version if record else None


def offline_quantities(ctx: "FlowContext", skus: Sequence[str]) -> dict[str, int]:
    """S4 quantities from the recorded store levels; a feeding store never heard from for a
    SKU is read once from 店+ (P7) and recorded."""
    stores = feeding_stores(ctx.tenant)
    levels: dict[str, dict[str, int]] = {sku: {} for sku in skus}
    missing: dict[str, list[str]] = {store: [] for store in stores}
    for sku in skus:
        for record in ctx.records.list(ctx.ent_id, STORE_LEVEL, prefix=f"{sku}|"):
            levels[sku][record.key.split("|", 1)[1]] = int(record.data["qty"])
        for store in stores:
            if store not in levels[sku]:
                missing[store].append(sku)
    for store, wanted in missing.items():
        if not wanted:
            continue
        for item in ctx.store.store_stock(store, wanted).items:
            claim_newer(ctx, STORE_LEVEL, f"{item.sku_id}|{store}", item.qty, item.version or 0)
            levels.setdefault(item.sku_id, {})[store] = item.qty
    return {sku: offline_quantity(ctx.tenant, levels[sku]) for sku in skus}


# --- uploads to JST ----------------------------------------------------------------------------


def upload_offline_stock(ctx: "FlowContext", items: Sequence[dict[str, Any]], *, so_id_base: str,
                         remark: str) -> list[str]:
    """``type=check`` counts of the offline warehouse, ≤ 500 items each, one ``so_id`` per
    upload (``<base>-<n>``), each done once (see ``upload_check_once``)."""
    done = []
    for number, start in enumerate(range(0, len(items), JST_UPLOAD_MAX), start=1):
        so_id = f"{so_id_base}-{number}"
        upload_check_once(ctx, so_id, items[start:start + JST_UPLOAD_MAX], remark=remark)
        done.append(so_id)
    return done


def upload_check_once(ctx: "FlowContext", so_id: str, items: Sequence[dict[str, Any]], *, remark: str) -> Any:
    """One count upload, once per ``so_id`` (an effect record), also across a crash between
    JST's answer and our record: JST refuses a repeated so_id ("already exists", code 160),
    which means the first upload was taken."""
    from ..connectors.jushuitan.models import StockItem

    def upload() -> dict[str, Any]:
        stock = [StockItem(sku_id=i["sku_id"], qty=int(i["qty"])) for i in items]
        try:
            # The adapter numbers the uploads of one call: one chunk gives "<so_id>-1"... so
            # the prefix is the so_id itself and the JST so_id is "<so_id>-1".
            ctx.jst.upload_inventory(wms_co_id=ctx.tenant.jushuitan.offline_wms_co_id, so_id_prefix=so_id,
                                     items=stock, type="check", remark=remark)
        except PermanentError as exc:
            if getattr(exc, "code", None) == 160 and not is_already_uploaded(exc):
                # 160 is also "内部保存失败" (internal save failure): worth another try.
                raise TransientError(str(exc)) from None
            if not is_already_uploaded(exc):
                raise
            return {"so_id": so_id, "items": len(stock), "repeat": True}
        return {"so_id": so_id, "items": len(stock)}

    return kit.effect_once(ctx, f"stock-upload:{so_id}", upload).result


def is_already_uploaded(exc: Exception) -> bool:
    code = getattr(exc, "code", None)
    message = f"{getattr(exc, 'jst_msg', '')} {exc}"
    return code == 160 and ("已存在" in message or "exist" in message.lower() or "重复" in message)
