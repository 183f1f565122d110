"""Stock both ways (S3, S4, S4e), near real time, over the Warehouse and Erp ports. The 02:10
run is stock_nightly.

S3  warehouse stock -> 店+ warehouse stock (P6): a push naming SKUs (``recheck_stock``: the
    levels are re-read from the warehouse, never taken from the push) and the hourly
    cursor pull (``pull_jst_stock``). Every level carries a version; a stale version never
    overwrites a newer one: the stored level is replaced only by a conditional write on its
    record version, and P6 keeps the higher version as well. The tenant's stock formula
    turns the warehouse's figures into the quantity shown.
S4e (stock.master: erp) the same path also carries the ERP's stock of the store warehouses
    into the stores' stock.
S4  (stock.master: pos) ``stock.changed`` events only record the store levels (versioned) and
    mark their SKUs dirty; one delayed "flush" per tenant (SQS delay ``coalesce_seconds``)
    aggregates the dirty SKUs over the stores feeding the ERP's virtual warehouse for the
    stores (JST: 店加线下仓), minus safety stock, and counts them into it
    (``erp.upload_store_stock``, a unique upload id each).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..errors import BadRequest, PermanentError, TransientError
from ..ports.warehouse import SkuQty, StockLevel, StockLocation, StockSource
from ..stock_formula import StockFormula
from . import kit, reservations, sales_return_stock

if TYPE_CHECKING:
    from ..events.models import PosEvent
    from ..tenant import Tenant
    from .kit import FlowContext

P6_MAX = 500
TRANSACTION_ITEMS = 100  # DynamoDB's most per transaction (levels, the trace, a message's "done")

# Record kinds (ctx.records). Keys start with the SKU where a flow lists "every store of one SKU".
WAREHOUSE_LEVEL = "stock.warehouse"  # "<pos warehouse code>|<sku>" -> {qty, version, pushed}
STORE_LEVEL = "stock.store"  # "<sku>|<store code>" -> {qty, version}
DIRTY = "stock.dirty"  # "<sku>" -> {at} | {cleared: true}: waits for the next flush (a window's overflow)
# The flush marker, among the dirty marks (a key no SKU can have: SKUs carry no leading space):
# {flush_id, due} while its flush is queued (its rank: when that flush counts as lost), {flush_id,
# closed} once the flush has run. Its members are the dirty SKUs (record_store_levels).
MARKER = " flush"
# SKUs the marker holds as members (about 1 KB: one write unit for the events riding along); the
# next ones of its window are dirty marks of their own, and the marker has this member instead.
MEMBERS_MAX = 40
OVERFLOW = " more"
FLUSH = "stock.flush"  # the release before kept its marker here ("offline"): no longer read
# The release before lists the dirty marks as SKUs and passes over cleared ones: the marker says it is
# one, so that a rollback, or the minutes of a deploy when both releases run, never uploads " flush".
NOT_A_SKU = {"cleared": True}
EVENT_PUSHED = "stock.event_pushed"  # "<sku>" -> {qty, at}: what the event path last sent JST
# "<flush id>" -> {sent: {sku: qty}, so_ids, at}: a flush that closed its window in the request of its
# upload's rate-limit grant, before the upload (flush_offline_stock): what it sends. A run of that
# flush again (the upload failed, the process died, SQS delivered the message twice) finds it and
# sends those SKUs' levels again; the 02:10 run reads it as the event path's last figures too.
TAKEN = "stock.flush_taken"

FLUSH_COMMAND = "stock.flush_offline"
SIGNALS_KEPT = 8  # pushes a level remembers having answered within its second (stock_signals)
MESSAGES_KEPT = 8  # the latest WMS stock reports a level was set for, by message (their repeats end at the read)
DIRTY_TTL_DAYS = 2
# A queued flush that has not run this long after it was due is presumed lost (the queue
# message went to the DLQ): the next event schedules a new one.
FLUSH_LOST_AFTER = timedelta(minutes=20)


# --- shared rules ----------------------------------------------------------------------------


def publishable(value: Decimal | int) -> int:
    """A quantity another system may show: whole units, never negative."""
    number = Decimal(value).to_integral_value(rounding=ROUND_FLOOR)
    return max(0, int(number))


def store_warehouse_codes(tenant: "Tenant") -> set[str]:
    return {store.code for store in tenant.stores}


def stock_sources(ctx: "FlowContext") -> list[tuple[StockSource, StockLocation]]:
    """Where the store system's stock comes from: the warehouse's own warehouses, and the
    ERP's store warehouses only when the ERP is stock master (S4e); when the store system is,
    store stock is never overwritten."""
    found: list[tuple[StockSource, StockLocation]] = [(ctx.warehouse, loc) for loc in ctx.warehouse.stock_locations()]
    if ctx.tenant.stock.master == "erp":
        found += [(ctx.erp, loc) for loc in ctx.erp.stock_locations()]
    return found


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
    record_version: int | None  # None: no record yet


def claim_newer(ctx: "FlowContext", kind: str, key: str, qty: int, version: int, *,
                resend_unpushed: bool = False) -> tuple[str, Claim | None]:
    """Store ``(qty, version)`` unless the stored version is newer: one write conditional on the
    stored level's version (no read first), so two Lambdas racing on one level never let the
    older one win. A level recorded before levels carried their version as the record's rank is
    decided on what the refused write returned and replaced once, conditional on its record version.

    Returns ("new", claim), ("resend", claim) for the same version not yet pushed (a retry),
    ("duplicate", None) or ("stale", None)."""
    unranked = None
    for _ in range(8):
        written, current = ctx.records.put_newer(ctx.ent_id, kind, key, {"qty": qty, "version": version, "pushed": False},
                                                 rank=version, unranked_version=unranked)
        if written is not None:
            return "new", Claim(key, qty, version, written.version)
        if current is None:
            continue  # deleted meanwhile: write again
        stored = int(current.data.get("version", -1))
        if stored > version:
            return "stale", None
        if stored == version:
            if resend_unpushed and not current.data.get("pushed", True):
                return "resend", Claim(key, qty, version, current.version)
            return "duplicate", None
        unranked = current.version  # an older level written without a rank: replace that version
    raise TransientError(f"stock level {key} is being written by many workers at once; try again")


# --- S3 / S4e: JST -> 店+ ---------------------------------------------------------------------


@kit.flow_command("stock.set_warehouse")
def set_warehouse_stock(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """Levels ``{sku_id, qty, version}`` of one 店+ warehouse (or store, S4e): the newer ones
    to P6, each once. Payload: ``warehouse_code``, ``items``; ``note`` (optional): a timeline
    entry ``{trace, step, detail}`` recorded with the levels, in the same request.

    The stored levels are read in one batch; the newer ones go to P6 (whose Idempotency-Key is
    the levels themselves, and which keeps the higher version too), and are then recorded in one
    batch of writes, each conditional on the record version read: a level another worker recorded
    meanwhile is read again and ours is recorded only if it is still the newer. A run that dies
    after P6 and before the record pushes the same levels again next time: P6 answers them from
    its key, nothing is applied twice."""
    return _set_levels(ctx, payload, None)


def _set_levels(ctx: "FlowContext", payload: dict[str, Any], stored: "dict[str, Any] | None",
                riding: "kit.RidingDone | None" = None) -> dict[str, Any]:
    """``set_warehouse_stock`` with the stored levels already read (``stored``, by record key),
    or read here when None. ``riding``: the "done" of the message these levels answer, for their
    transaction to carry (``_record_with_done``)."""
    from ..connectors.store.models import StockLevel

    code = payload["warehouse_code"]
    counts = {"received": len(payload["items"]), "stale": 0, "duplicate": 0}
    if stored is None:
        stored = ctx.records.get_many(ctx.ent_id, WAREHOUSE_LEVEL, [f"{code}|{i['sku_id']}" for i in payload["items"]])
    fresh: dict[str, Claim] = {}  # record key -> the level to push (the newest of the payload)
    signals: dict[str, Any] = {}  # record key -> the pushes this level answers (stock_signals)
    for item in payload["items"]:
        key, version, qty = f"{code}|{item['sku_id']}", int(item["version"]), int(item["qty"])
        current = stored.get(key)
        known = fresh[key].version if key in fresh else int(current.data.get("version", -1)) if current else -1
        if known > version:
            counts["stale"] += 1
        elif known == version and (key in fresh or current is None or current.data.get("pushed", True)):
            counts["duplicate"] += 1
        elif (key not in fresh and current is not None and current.data.get("pushed", True)
              and int(current.data.get("qty", -1)) == qty and known // 1000 == version // 1000):
            # The figure the store shows, read again later within its second (a version's last digits
            # are when in its second it was read: a push's re-read, then the next pull): nothing to send,
            # and nothing written, so a repeated callback costs what it did.
            counts["duplicate"] += 1
        else:  # newer, or the same version recorded but never pushed (a claim of an older release)
            fresh[key] = Claim(item["sku_id"], qty, version, current.version if current else None)
            # The pushes this level answers: this one, and those the level it replaces answered within
            # its second (a later read holds all an earlier one did). Older seconds need no list: the
            # version says the read came after them.
            served = [*([item["signal"]] if item.get("signal") is not None else []),
                      *(current.data.get("signals") or [] if current else [])]
            served = [list(s) for s in served if s[0] is not None and int(s[0]) >= version // 1000 * 1000]
            if served:
                signals[key] = served[:SIGNALS_KEPT]
    claims = list(fresh.items())
    counts["applied"] = len(claims)
    note = payload.get("note")
    # Every level the payload names is newer: the message they answer (``riding``) may be
    # marked on them instead of in a record of its own (the marks they carry kept, the newest first).
    kept = ({key: list((stored[key].data.get("messages") or []) if key in stored else []) for key in fresh}
            if len(claims) <= P6_MAX and all(f"{code}|{i['sku_id']}" in fresh for i in payload["items"]) else None)
    for start in range(0, len(claims), P6_MAX):
        part = claims[start:start + P6_MAX]
        levels = [StockLevel(sku_id=c.sku_id, qty=c.qty, version=c.version) for _, c in part]
        # The same levels give the same Idempotency-Key: a retry is answered, not applied twice.
        ctx.store.set_warehouse_stock(code, levels, business_key=_stable_hash([code, [l.body() for l in levels]]))
        last = start + P6_MAX >= len(claims)
        if last and note:  # the trace rides in the levels' write (one request, not two)
            entry = (note["trace"], note["step"], {**note["detail"], "result": dict(counts)})
            counts["noted"] = True
            if _record_with_done(ctx, WAREHOUSE_LEVEL, dict(part), signals, entry, kept, riding):
                continue
            ctx.timeline.record(entry[0], ctx.ent_id, entry[1], entry[2])
        _record_pushed(ctx, WAREHOUSE_LEVEL, dict(part), signals=signals,
                       trace_key=note["trace"] if last and note else None)
    ctx.metric("StockLevelsApplied", len(claims))
    return counts


def _record_pushed(ctx: "FlowContext", kind: str, pushed: dict[str, Claim], *,
                   signals: dict[str, Any] | None = None, trace_key: str | None = None) -> None:
    """Record levels just sent, unless a newer one was recorded meanwhile (conditional writes).
    A level read for a push keeps what the push said (``signals``: its repeat is known before
    the warehouse is read again). ``trace_key``: that document's timeline entries held so far
    are written in the same request as the levels."""
    signals = signals or {}

    def data(key: str, c: Claim) -> dict[str, Any]:
        return {"qty": c.qty, "version": c.version, "pushed": True,
                **({"signals": signals[key]} if key in signals else {})}

    for _ in range(8):
        writes = [(key, data(key, c), c.record_version) for key, c in pushed.items()]
        refused = (ctx.records.put_many_traced(ctx.ent_id, kind, writes, trace_key=trace_key) if trace_key
                   else ctx.records.put_many(ctx.ent_id, kind, writes))
        if not refused:
            return
        now = ctx.records.get_many(ctx.ent_id, kind, refused)
        pushed = {key: Claim(pushed[key].sku_id, pushed[key].qty, pushed[key].version,
                             now[key].version if key in now else None)
                  for key in refused if key not in now or int(now[key].data.get("version", -1)) < pushed[key].version}
        if not pushed:
            return
    raise TransientError(f"stock levels of {kind} are being recorded by many workers at once; try again")


def _record_with_done(ctx: "FlowContext", kind: str, pushed: dict[str, Claim], signals: dict[str, Any],
                      trace: tuple[str, str, dict[str, Any]], kept: dict[str, list[str]] | None,
                      riding: "kit.RidingDone | None") -> bool:
    """The levels just sent and their trace in one transaction with the "done" of the message
    they answer (``riding``: a 奇门 stock report's), each level conditional on the record
    version read. ``kept`` (every level the message names is here, with the marks it carries):
    the message is marked on its levels (``MESSAGES_KEPT`` a level), no record of its own, which
    saves the transaction an item (two write units); else its "done" is one more item,
    conditional on its record as read. False when there is no such "done" to carry, the levels
    do not fit one transaction, or it was refused (a level written by another worker meanwhile,
    or the message taken by one): the caller records the levels as without it, and the "done"
    is written after the work (``RidingDone.outcome``)."""
    from ..ports import TogetherWrite

    done = riding.write() if riding is not None else None
    if done is None or riding is None:
        return False
    marked = kept is not None and len(pushed) + 1 <= TRANSACTION_ITEMS
    if not marked and len(pushed) + 2 > TRANSACTION_ITEMS:
        return False

    def data(key: str, c: Claim) -> dict[str, Any]:
        return {"qty": c.qty, "version": c.version, "pushed": True,
                **({"signals": signals[key]} if key in signals else {}),
                **({"messages": [riding.key, *kept[key]][:MESSAGES_KEPT]} if marked and kept else {})}

    writes = [TogetherWrite(kind, key, data(key, c), expect_version=True, expected_version=c.record_version)
              for key, c in pushed.items()]
    refused = ctx.records.write_together(ctx.ent_id, writes if marked else [*writes, done], trace=trace)
    if not refused:
        riding.answered(None)
    elif not marked:
        riding.answered(refused[-1])
    return not refused


def location_for(ctx: "FlowContext", warehouse_code: str) -> tuple[StockSource | None, StockLocation]:
    """The mapped warehouse ``warehouse_code`` and who holds its stock now (None: nobody whose
    stock the store shows, e.g. a store warehouse while the store system is stock master)."""
    for source, location in stock_sources(ctx):
        if location.warehouse_code == warehouse_code:
            return source, location
    for location in [*ctx.warehouse.stock_locations(), *ctx.erp.stock_locations()]:
        if location.warehouse_code == warehouse_code:
            return None, location
    raise BadRequest(f"warehouse {warehouse_code} is not mapped for tenant {ctx.ent_id}")


def levels_of(tenant: "Tenant", levels: Iterable[StockLevel]) -> list[dict[str, Any]]:
    """Warehouse levels -> 店+ levels through the tenant's stock formula."""
    formula = formula_for(tenant)
    return [level_of(formula, level) for level in levels]


def level_of(formula: StockFormula, level: StockLevel) -> dict[str, Any]:
    return {"sku_id": level.sku_id, "qty": publishable(formula.evaluate(dict(level.figures))),
            "version": level.version}


def recheck_stock(ctx: "FlowContext", warehouse_code: str, sku_ids: Sequence[str],
                  signals: dict[str, Any] | None = None, *, riding: "kit.RidingDone | None" = None) -> dict[str, Any]:
    """S3: a push said these SKUs moved in this warehouse: their levels are re-read from whoever
    holds them and set in 店+ (P6). Done or durably queued on return (a failed re-read too).
    ``signals``: what the push said of each SKU (``JstPush.stock_signals``), so that a repeat of
    a push already read is known before the warehouse is read again. ``riding``: the "done" of
    the message the re-read answers (a 奇门 stock report: ``kit.done_riding``), done with the levels."""
    _, location = location_for(ctx, warehouse_code)  # an unmapped warehouse is refused at once
    payload: dict[str, Any] = {"warehouse_code": warehouse_code, "sku_ids": sorted(set(sku_ids))}
    if signals:
        payload["signals"] = {sku: list(signal) for sku, signal in signals.items()}
    step = reread_stock if riding is None else _reread_riding(riding)
    done = kit.attempt(ctx, step, payload, trace_key=f"stock:{location.pos_code}")
    return done if done is not None else {"queued": len(set(sku_ids))}


def already_read(level: Any, signal: Sequence[Any] | None) -> bool:
    """Whether the stored ``level`` (a Record) already holds what a push row (``signal``: its
    modified second as a version, its qty) reports: the level was sent and either read after the
    row's second was over (every change of that second is in it; within the second a later change
    carries the same time), or read for this very push (a repeat JST sends again: same second,
    same qty). Unsure is False: the warehouse is read again."""
    if level is None or signal is None or not level.data.get("pushed", False):
        return False
    modified = signal[0]
    if modified is not None and int(level.data.get("version", -1)) >= int(modified) + 999:
        return True
    return modified is not None and list(signal) in [list(s) for s in level.data.get("signals") or []]


@kit.flow_command("stock.reread")
def reread_stock(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    return _reread(ctx, payload, None)


def _reread_riding(riding: "kit.RidingDone") -> "kit.FlowStep":
    """``reread_stock`` carrying ``riding`` (the message's "done"), attempted under its command: a
    retry from the queue re-reads without it, and the "done" is written after the work
    (``RidingDone.outcome``)."""

    @kit.flow_command(reread_stock.command_name)  # type: ignore[attr-defined]
    def step(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
        return _reread(ctx, payload, riding)

    return step


def _reread(ctx: "FlowContext", payload: dict[str, Any], riding: "kit.RidingDone | None") -> dict[str, Any]:
    warehouse_code, skus = payload["warehouse_code"], payload["sku_ids"]
    source, location = location_for(ctx, warehouse_code)
    trace = f"stock:{location.pos_code}"
    if source is None:
        ctx.timeline.record(trace, ctx.ent_id, "stock.push.ignored",
                            {"reason": "store stock master is the store system (stock.master: pos); "
                                       "the ERP's stock of a store warehouse is not written to the store",
                             "skus": len(skus)})
        return {"ignored": len(skus)}
    signals = payload.get("signals") or {}
    stored = None
    if riding is not None and riding.state != "unread":
        riding = None  # read by an earlier step of this work: not this one's
    if riding is not None:
        # The message this re-read answers is done once (a 奇门 stock report): its record is read
        # with the levels (one batch, which the write below needs anyway). Taken before, the work
        # ends here (a repeat is this read); else its "done" rides in the levels' transaction.
        keys = [f"{location.pos_code}|{sku}" for sku in skus]
        read = ctx.records.get_many_of(ctx.ent_id, [*((WAREHOUSE_LEVEL, key) for key in keys), riding.wanted])
        stored = {key: read[(WAREHOUSE_LEVEL, key)] for key in keys if (WAREHOUSE_LEVEL, key) in read}
        marked = bool(keys) and all(riding.key in (stored[key].data.get("messages") or []) if key in stored else False
                                    for key in keys)
        if not riding.read(read.get(riding.wanted), marked=marked):
            return {"repeat": len(skus)}
    elif signals:
        # The levels are read first (one batch, which the write below needs anyway): a push JST sends
        # again, already read and sent, ends here, before the warehouse is read again (no rate-limit
        # slot, no 店+ call, nothing written; the log says it).
        stored = ctx.records.get_many(ctx.ent_id, WAREHOUSE_LEVEL, [f"{location.pos_code}|{sku}" for sku in skus])
    if signals:
        if all(already_read(stored.get(f"{location.pos_code}|{sku}"), signals.get(sku)) for sku in skus):
            from ..observability import logger

            logger.info("stock push already read: its levels were read and sent after it",
                        extra={"warehouse": warehouse_code, "skus": len(skus)})
            ctx.metric("StockPushRepeated", 1)
            return {"repeat": len(skus)}
    levels = source.stock_of(warehouse_code, skus)
    items = levels_of(ctx.tenant, levels)
    for item in items:
        if item["sku_id"] in signals:
            item["signal"] = list(signals[item["sku_id"]])
    detail = {"warehouse": warehouse_code, "skus": skus[:20], "count": len(skus), "read": len(items)}
    result = _attempt_levels(ctx, {"warehouse_code": location.pos_code, "items": items,
                                   "note": {"trace": trace, "step": "stock.push.received", "detail": detail}},
                             stored, trace, riding)
    _sales_return_stock(ctx, warehouse_code, levels)
    noted = result.pop("noted", False) if result is not None else False
    if not noted:  # else its trace went with its levels
        step = {**detail, "result": result if result is not None else "queued for retry"}
        done = riding.write() if riding is not None and result is not None else None
        if done is None:
            ctx.timeline.record(trace, ctx.ent_id, "stock.push.received", step)
        else:  # no level newer: the message's "done" and the trace, one request
            refused = ctx.records.write_together(ctx.ent_id, [done], trace=(trace, "stock.push.received", step))
            riding.answered(refused[0] if refused else None)  # type: ignore[union-attr]
            if refused:
                ctx.timeline.record(trace, ctx.ent_id, "stock.push.received", step)
    return result or {"queued": len(items)}


def _attempt_levels(ctx: "FlowContext", payload: dict[str, Any], stored: "dict[str, Any] | None",
                    trace: str, riding: "kit.RidingDone | None" = None) -> dict[str, Any] | None:
    """``kit.attempt`` of ``set_warehouse_stock`` over levels already read (``stored``), carrying
    ``riding``: the same step, retried under the same command (which then reads them afresh)."""
    def step(c: "FlowContext", p: dict[str, Any]) -> dict[str, Any]:
        return _set_levels(c, p, stored, riding)

    step.command_name = set_warehouse_stock.command_name  # type: ignore[attr-defined]
    return kit.attempt(ctx, step, payload, trace_key=trace)


def pull_jst_stock(ctx: "FlowContext") -> dict[str, Any]:
    """S3/S4e hourly: every mapped warehouse's changes since its cursor -> P6.

    A row the warehouse lists that cannot be read, a level that cannot be worked out (the
    tenant's formula fails on it) and a level the store refuses are set aside (kit.set_aside: parked with the reason, replayable); the others are
    applied and the cursor moves past all of them."""
    return pull_stock(ctx, stock_sources(ctx))


def pull_warehouse_stock(ctx: "FlowContext") -> dict[str, Any]:
    """The hourly read of the warehouse's own stock only (Q5 for a 旺店通 tenant whose warehouse is
    a cloud WMS: the ERP's store-warehouse stock is its 02:10 run's, W5). Nothing for a warehouse
    that holds no stock the stores show."""
    return pull_stock(ctx, [(ctx.warehouse, location) for location in ctx.warehouse.stock_locations()])


def pull_stock(ctx: "FlowContext", sources: list[tuple[StockSource, StockLocation]]) -> dict[str, Any]:
    """Each source location's changes since its cursor -> P6 (see ``pull_jst_stock``)."""
    from collections import Counter

    summary: dict[str, Any] = {}
    for source, location in sources:
        code = location.warehouse_code
        if ctx.time_left() < 60:
            summary[code] = "left for the next run (time)"
            continue
        name = f"stock.inventory.{code}"  # JST: the ts cursor of the wms_co_id (its first name)
        cursor = ctx.cursors.get(ctx.ent_id, name)
        page = source.stock_changes(code, cursor.value if cursor else None)
        counts: Counter = Counter()
        items: list[dict[str, Any]] = []
        formula = formula_for(ctx.tenant)

        def read(level: StockLevel) -> str:
            items.append(level_of(formula, level))
            return "read"

        kit.each_record(ctx, page.levels, read, step=apply_warehouse_level,
                        payload_of=lambda level: {"warehouse_code": location.pos_code, "sku_id": level.sku_id,
                                                  "figures": {k: str(v) for k, v in level.figures.items()},
                                                  "version": level.version},
                        trace_key_of=lambda level: f"stock:{location.pos_code}", counts=counts,
                        # A row the warehouse listed that cannot be read: its SKU read afresh on replay.
                        malformed_step=reread_stock,
                        malformed_payload_of=lambda row: {"warehouse_code": code, "sku_ids": [row.key]})
        for start in range(0, len(items), P6_MAX):
            _apply_levels(ctx, location.pos_code, items[start:start + P6_MAX], counts)
        returns = _sales_return_stock(ctx, code, [level for level in page.levels if isinstance(level, StockLevel)])
        # Only after the levels are applied, durably queued or set aside: a crash re-reads them.
        ctx.cursors.advance(ctx.ent_id, name, page.next_cursor, cursor.version if cursor else None)
        summary[code] = {"read": len(items), "applied": counts["applied"], "unchanged": counts["unchanged"],
                         "queued": counts["queued"], "set_aside": counts["parked"] + counts["parked_before"],
                         "next_ts": page.next_cursor, **({"sales_return": returns} if returns else {})}
    return summary


def _apply_levels(ctx: "FlowContext", code: str, items: list[dict[str, Any]], counts: Any) -> None:
    """P6 for ``items``; a batch the store refuses is halved until each refused level stands
    alone and is set aside, so one bad SKU does not hold back the levels around it."""
    payload = {"warehouse_code": code, "items": items}
    try:
        result = kit.attempt(ctx, set_warehouse_stock, payload, trace_key=f"stock:{code}")
    except PermanentError as exc:
        if len(items) > 1:
            middle = len(items) // 2
            _apply_levels(ctx, code, items[:middle], counts)
            _apply_levels(ctx, code, items[middle:], counts)
            return
        counts[kit.set_aside(ctx, set_warehouse_stock, payload, trace_key=f"stock:{code}", error=exc)] += 1
        return
    except Exception as exc:  # noqa: BLE001 - not a refusal: set the batch aside as it is
        counts[kit.set_aside(ctx, set_warehouse_stock, payload, trace_key=f"stock:{code}", error=exc)] += 1
        return
    if result is None:
        counts["queued"] += len(items)
    else:
        counts["applied"] += result["applied"]
        counts["unchanged"] += result["stale"] + result["duplicate"]


@kit.flow_command("stock.apply_warehouse_level")
def apply_warehouse_level(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """A warehouse level the hourly pull set aside, applied again (`o2o dlq replay` after the fix)."""
    level = StockLevel(payload["sku_id"], {k: Decimal(v) for k, v in payload["figures"].items()}, int(payload["version"]))
    return set_warehouse_stock(ctx, {"warehouse_code": payload["warehouse_code"],
                                     "items": levels_of(ctx.tenant, [level])})


# --- dead letters of the release before: the 旺店通 02:10 run's store levels under their old names ---


@kit.flow_command("erp_stock.set_store_stock")
def set_store_stock_as_queued_before(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """Store levels ``[sku, qty, version]`` dead-lettered before the upgrade: set as any levels
    (a newer level the store holds since is kept)."""
    return set_warehouse_stock(ctx, {"warehouse_code": payload["store_code"], "items": [
        {"sku_id": sku, "qty": qty, "version": version} for sku, qty, version in payload["levels"]]})


@kit.flow_command("erp_stock.set_stock_row_again")
def set_stock_row_as_queued_before(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """A 旺店通 stock row the run could not read before the upgrade: its SKU read again now."""
    row = payload["row"]
    return reread_stock(ctx, {"warehouse_code": str(row["warehouse_no"]), "sku_ids": [str(row["spec_no"])]})


def _sales_return_stock(ctx: "FlowContext", warehouse_code: str, levels: Sequence[StockLevel]) -> dict[str, Any] | None:
    """The 销退仓 part of these levels to the store system's return warehouse (code 2), when
    ``warehouse_code`` is the one whose returns it shows (flows/sales_return_stock.py)."""
    returns = sales_return_stock.return_levels(ctx.tenant, warehouse_code, levels)
    if returns is None:
        return None
    code, items = returns
    from collections import Counter

    counts: Counter = Counter()
    for start in range(0, len(items), P6_MAX):
        _apply_levels(ctx, code, items[start:start + P6_MAX], counts)
    return {"warehouse": code, **{k: v for k, v in counts.items() if v}}


def resend_sales_return(ctx: "FlowContext", warehouse_code: str) -> dict[str, Any]:
    """The 02:10 run's 销退仓 step: every level of ``warehouse_code`` read again (no cursor) and
    its 销退仓 part sent as the hourly pull sends it (the same figure, version and dedup)."""
    source = next((s for s, location in stock_sources(ctx) if location.warehouse_code == warehouse_code), None)
    if source is None:  # as the hourly pull: only a mapped warehouse's 销退仓 is shown
        return {"warehouse": None, "read": 0, "reason": f"warehouse {warehouse_code} is not mapped"}
    levels = source.stock_changes(warehouse_code, None).levels
    sent = _sales_return_stock(ctx, warehouse_code, levels) or {}
    return {"read": len(levels), "applied": 0, "unchanged": 0, **sent}


# --- S4: store events -> JST offline warehouse, coalesced ------------------------------------------


def on_stock_changed(event: "PosEvent", ctx: "FlowContext") -> None:
    """A store's stock changed: record the levels (a stale version changes nothing), mark
    the SKUs dirty and make sure one flush is queued. No ERP call here."""
    tenant = ctx.tenant
    data = event.data
    trace = f"stock:{data.store_code}"
    reason = None
    if tenant.stock.master == "erp":
        reason = "stock.master is erp: the ERP owns store stock, store events are not pushed"
    elif not ctx.erp.info.virtual_warehouse:
        reason = (f"{ctx.erp.info.display_name} has no virtual warehouse for the stores: the store stock reaches it "
                  "as one count per store warehouse at 02:10 (nightly_stock_push)")
    elif data.store_code not in feeding_stores(tenant):
        reason = (f"store {data.store_code} is not a store of this tenant" if data.store_code
                  not in store_warehouse_codes(tenant) else f"store {data.store_code} does not feed the ERP's store warehouse")
    if reason:
        ctx.timeline.record(trace, ctx.ent_id, "stock.changed.ignored",
                            {"event_id": event.event_id, "reason": reason, "skus": len(data.items)})
        return
    record_store_levels(ctx, event.event_id, data.store_code, trace,
                        {item.sku_id: (item.qty, item.version) for item in sorted(data.items, key=lambda i: i.version)})


LEVELS_PER_WRITE = 48  # SKUs an event records in one transaction (level, and dirty mark in an overflow, each; the marker, the trace)


def record_store_levels(ctx: "FlowContext", event_id: str, store_code: str, trace: str,
                        levels: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """S4: the store's levels ``sku -> (qty, version)`` recorded where newer, their SKUs marked
    dirty and the event's trace, in one request (``write_together``, 48 SKUs a request) while a
    flush is queued: the flush marker is checked in it (its rank is when a queued flush counts as
    lost). The first event of a window finds none and writes the marker instead, then queues the
    flush. A repeat is refused on its levels' versions: that one request, nothing written, no
    trace (the log says it)."""
    skus = list(levels)
    changed: list[str] = []
    unchanged = 0
    flush = None
    traced = False
    for start in range(0, len(skus), LEVELS_PER_WRITE):
        part = {sku: levels[sku] for sku in skus[start:start + LEVELS_PER_WRITE]}
        last = start + LEVELS_PER_WRITE >= len(skus)

        def note(written: list[str], queued: str) -> dict[str, Any]:
            every = changed + written
            return {"event_id": event_id, "changed": every[:20], "count": len(every),
                    "unchanged": unchanged + len(part) - len(written), "flush": queued}

        written, part_flush, with_trace = _record_levels_part(ctx, store_code, part, trace if last else None, note)
        changed += written
        unchanged += len(part) - len(written)
        flush = part_flush or flush
        traced = traced or with_trace
    detail = {"event_id": event_id, "changed": changed[:20], "count": len(changed), "unchanged": unchanged,
              "flush": flush}
    if not traced and changed:
        ctx.timeline.record(trace, ctx.ent_id, "stock.changed.recorded", detail)
    elif not changed:
        from ..observability import logger

        logger.info("stock.changed: no level newer than the one recorded (a repeat or a late event)",
                    extra={"event_id": event_id, "store": store_code, "skus": len(skus)})
    return detail


def _record_levels_part(ctx: "FlowContext", store_code: str, levels: dict[str, tuple[int, int]], trace: str | None,
                        note: Any) -> tuple[list[str], str | None, bool]:
    """One transaction of ``record_store_levels``: (SKUs written, the flush said, whether the trace
    went with them). A level refused for one SKU (stale, or the same version again) cancels the
    others: they are written again without it, on what the refusal returned (no read).

    The SKUs go onto the flush marker as its members (no dirty mark of their own), so that the flush
    reads them with the marker and the levels of the SKUs it was queued for in one batch. A window
    whose marker holds MEMBERS_MAX SKUs takes the next ones as dirty marks of their own, with the
    member OVERFLOW: the marker's item stays small (a rider's write is billed by its size)."""
    from ..ports import TogetherWrite

    now = ctx.now()
    outcomes: dict[str, str] = {}
    replace: dict[str, int] = {}  # SKU -> the version of a level recorded before levels had a rank
    # Whether a flush is queued, as far as this container knows: a wrong guess costs one refused
    # transaction (which returns the marker), a right one lets the first event of a window write
    # the marker in its one request, where it took a refused check and a second request before.
    schedule = _flush_queued_until.get(ctx.ent_id, 0) <= _ms(now)
    overflow = len(levels) > MEMBERS_MAX or _overflowing_until.get(ctx.ent_id, 0) > _ms(now)
    for _ in range(8):
        changed = [sku for sku in levels if sku not in outcomes]
        if not changed:
            return [], None, False
        writes = []
        for sku in changed:
            qty, version = levels[sku]
            writes.append(TogetherWrite(STORE_LEVEL, f"{sku}|{store_code}", {"qty": qty, "version": version},
                                        rank=version, expect_version=sku in replace,
                                        expected_version=replace.get(sku)))
            if overflow:  # always a new record version: a flush that read the older one cannot clear this change
                writes.append(TogetherWrite(DIRTY, sku, {"at": now.isoformat()}, ttl_days=DIRTY_TTL_DAYS))
        members = (OVERFLOW,) if overflow else tuple(changed)
        due = now + timedelta(seconds=ctx.tenant.stock.coalesce_seconds)
        flush_id = uuid.uuid4().hex[:12]
        if schedule:  # no flush queued (or it is lost, or it has run): this event queues one
            writes.append(_marker_write(flush_id, due, now, "event", add=members))
        else:
            # Riding along raises the marker's version: the flush, which read the marker with its
            # members, closes it only at the version it read, so it knows this event came after.
            writes.append(TogetherWrite(DIRTY, MARKER, rank_above=_ms(now), touch=True, add_members=members,
                                        members_below=None if overflow else MEMBERS_MAX))
        flush = f"queued in {ctx.tenant.stock.coalesce_seconds} s" if schedule else "already queued"
        refused = ctx.records.write_together(ctx.ent_id, writes, trace=(
            (trace, "stock.changed.recorded", note(changed, flush)) if trace else None))
        if refused is None:
            if schedule:
                _queue_flush(ctx, flush_id, members)
                _remember_flush(ctx.ent_id, due)
            return changed, flush, trace is not None
        for write, (failed, current) in zip(writes, refused):
            if not failed or write.kind != STORE_LEVEL:
                continue
            sku = write.key.rsplit("|", 1)[0]
            stored = int(current.data.get("version", -1)) if current is not None else -1
            if current is None:
                replace.pop(sku, None)  # deleted meanwhile: write again
            elif stored > levels[sku][1]:
                outcomes[sku] = "stale"
            elif stored == levels[sku][1]:
                outcomes[sku] = "duplicate"
            else:  # an older level written without a rank: replace that version
                replace[sku] = current.version
        failed, marker = refused[-1]
        if failed:
            live = marker is not None and _live(marker, now)
            if not schedule and live:  # live, but it holds MEMBERS_MAX SKUs: dirty marks of their own
                overflow = True
                _remember(_overflowing_until, ctx.ent_id, _due(marker, now))
            else:  # none live: write one; or one is live (another event's): ride along
                schedule = not schedule
            if not schedule and live:
                # live: the next events ride along, also past its due until its flush has run
                _remember_flush(ctx.ent_id, _due(marker, now))
            elif schedule:
                _flush_queued_until.pop(ctx.ent_id, None)
    raise TransientError(f"store levels of {store_code} are being written by many workers at once; try again")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# ent_id -> when the flush this container last saw queued is due (ms): only a guess of which write
# the next event tries first (see _record_levels_part); the marker's conditions decide.
_flush_queued_until: dict[str, int] = {}
# ent_id -> until when (ms) the window this container last saw is full (MEMBERS_MAX): a guess too.
_overflowing_until: dict[str, int] = {}


def _remember(guesses: dict[str, int], ent_id: str, due: datetime) -> None:
    if len(guesses) >= 1000:
        guesses.clear()
    guesses[ent_id] = _ms(due)


def _remember_flush(ent_id: str, due: datetime) -> None:
    _remember(_flush_queued_until, ent_id, due)


def _live(marker: Any, now: datetime) -> bool:
    """Whether a marker (as a refused write returned it) stands for a flush queued and not presumed
    lost: its rank, which a returned record does not carry, is its due + FLUSH_LOST_AFTER."""
    due = marker.data.get("due")  # the very comparison the write's condition made (rank > now, in ms)
    return bool(due) and not marker.data.get("closed") and _ms(datetime.fromisoformat(due) + FLUSH_LOST_AFTER) > _ms(now)


def _due(marker: Any, now: datetime) -> datetime:
    return max(datetime.fromisoformat(marker.data["due"]), now + timedelta(seconds=2))


def _marker_write(flush_id: str, due: datetime, now: datetime, by: str, *, version: int | None = None,
                  add: Sequence[str] = ()) -> Any:
    """The marker of a flush queued now, due at ``due``: written where none is live (absent,
    closed, or its flush lost), or (``version``) over that version of it. ``add``: SKUs that join
    its members (those of a lost flush's window stay: the set is kept across writes)."""
    from ..ports import TogetherWrite

    return TogetherWrite(DIRTY, MARKER, {"flush_id": flush_id, "due": due.isoformat(), "queued_by": by, "listed": True,
                                         **NOT_A_SKU},
                         rank=_ms(due + FLUSH_LOST_AFTER), rank_below=_ms(now),
                         expect_version=version is not None, expected_version=version, ttl_days=DIRTY_TTL_DAYS,
                         add_members=tuple(add))


def _queue_flush(ctx: "FlowContext", flush_id: str, skus: Sequence[str] = ()) -> None:
    """``skus``: the SKUs the flush is queued for, which it reads with the marker (others it finds
    among the marker's members and reads after)."""
    from ..ports import TogetherWrite
    from ..retry import READ_AHEAD, READ_AHEAD_MAX, RetryEnvelope  # only store events pay for the envelope model

    delay = ctx.tenant.stock.coalesce_seconds
    hinted = [sku for sku in skus if sku != OVERFLOW][:MEMBERS_MAX]
    # What the flush reads first, named for the retry worker, which reads them with the tenant in
    # one request (retry.READ_AHEAD; a warm worker has the tenant and the flush reads them itself).
    first, *levels, taken = _flush_reads(ctx, flush_id, hinted)
    reads = [list(key) for key in [first, taken, *levels][:READ_AHEAD_MAX]]
    try:
        ctx.queue.enqueue(RetryEnvelope(command=FLUSH_COMMAND, ent_id=ctx.ent_id,
                                        payload={"flush_id": flush_id, **({"skus": hinted} if hinted else {}),
                                                 READ_AHEAD: reads},
                                        trace_key="stock:offline"), delay)
    except BaseException:
        # Not queued: the event (or the flush that re-armed the marker) is not acknowledged and comes
        # again; the marker is no longer live (rank 0), so that one is queued then. Its members stay.
        ctx.records.write_together(ctx.ent_id, [TogetherWrite(
            DIRTY, MARKER, {"flush_id": flush_id, "closed": True, "unqueued": True, "listed": True, **NOT_A_SKU},
            rank=0, rank_below=2 ** 62, ttl_days=DIRTY_TTL_DAYS)])
        raise


def _flush_reads(ctx: "FlowContext", flush_id: str, hinted: Sequence[str]) -> list[tuple[str, str]]:
    """What a flush reads first: the marker, its own TAKEN record and the levels (and holds) of the
    SKUs it was queued for at the feeding stores."""
    return [(DIRTY, MARKER), *_aggregate_keys(ctx, hinted), *([(TAKEN, flush_id)] if flush_id != "manual" else [])]


@kit.flow_command(FLUSH_COMMAND)
def flush_offline_stock(ctx: "FlowContext", payload: dict[str, Any]) -> dict[str, Any]:
    """The dirty SKUs, aggregated over the feeding stores, to the ERP's store warehouse.

    The marker (its members: the dirty SKUs), the flush's own TAKEN record and the levels and holds
    of the SKUs the flush was queued for are read in one batch (with the tenant, by the retry worker
    that has none cached); SKUs other events added are read after. The marker stays live while the
    flush reads (events ride along on it, raising its version) and is closed, only at the version
    read, taking the members it read, in the very request of the upload's rate-limit grant, before
    the upload goes out, with the TAKEN record (what is sent) and the trace: nothing is written
    after the upload. A run of the flush again finds its TAKEN record and sends those SKUs' levels
    again (the same levels: the same upload id, which the ERP takes once). If an event rode along
    since the read, the close is refused with its grant's request (nothing of it written), the
    grant is taken alone and the flush goes on as before: the upload, then its record with the
    marker closed, or re-armed for a next flush (every member kept), which is queued. So an event
    either finds a live marker whose flush has not yet read it (or re-arms it for the next), or none
    and queues one. A marker written by the release before (no ``listed``) or one that overflowed
    (OVERFLOW) also has dirty marks of their own: they are listed too."""
    flush_id = payload.get("flush_id") or "manual"
    hinted = [str(sku) for sku in payload.get("skus") or []] if ctx.tenant.stock.master == "pos" else []
    wanted = _flush_reads(ctx, flush_id, hinted)
    # One batch, which the retry worker may have read with the tenant already (then nothing is asked).
    found = ctx.records.get_many_of(ctx.ent_id, wanted)
    taken = found.get((TAKEN, flush_id))
    if taken is not None and ctx.tenant.stock.master == "pos":
        return _send_taken_again(ctx, flush_id, taken, set(wanted), found)
    marker = found.get((DIRTY, MARKER))
    if marker is None or marker.data.get("flush_id") != flush_id or marker.data.get("closed"):
        return {"skus": 0, "uploads": 0}  # another flush's (queued after this one was presumed lost), or done
    marks = []
    if OVERFLOW in marker.members or not marker.data.get("listed"):
        marks = [r for r in ctx.records.list(ctx.ent_id, DIRTY) if r.key != MARKER and not r.data.get("cleared")]
    skus = sorted({m for m in marker.members if m != OVERFLOW} | {r.key for r in marks})
    if not skus:
        _record_flushed(ctx, [], [], {}, None, marker, flush_id)
        return {"skus": 0, "uploads": 0}
    if ctx.tenant.stock.master != "pos":  # switched to erp since the events came: the ERP owns the stock now
        ctx.timeline.record("stock:offline", ctx.ent_id, "stock.offline.skipped",
                            {"reason": "stock.master is erp: store stock is not pushed to the ERP", "skus": len(skus)})
        _record_flushed(ctx, [], marks, {}, None, marker, flush_id)
        return {"skus": 0, "skipped": len(skus)}
    read_from_store: dict[str, tuple[int, int]] = {}
    quantities = offline_quantities(ctx, skus, read=(set(wanted), found), held_levels=read_from_store)
    items = [{"sku_id": sku, "qty": quantities[sku]} for sku in skus]
    so_id_base = f"O2O-S4-{flush_id}-{_stable_hash(items)[:8]}"
    so_ids = _so_ids(ctx, items, so_id_base)
    trace = ("stock:offline", "stock.offline.uploaded", {
        "warehouse": ctx.erp.info.virtual_warehouse, "skus": len(items), "so_ids": so_ids, "sample": items[:10]})
    riders = _closing_riders(ctx, flush_id, marker, marks, quantities, so_ids, read_from_store, trace)
    uploads = _upload_counts(ctx, items, so_id_base=so_id_base, remark="店+ store stock (near real time)", riders=riders)
    if riders is None or not riders.written:  # not sent with the grant, or refused (an event rode along)
        _record_flushed(ctx, skus, marks, quantities, trace, marker, flush_id, read_from_store)
    ctx.metric("StockSkusPushed", len(items))
    return {"skus": len(items), "uploads": len(uploads)}


def _closing_riders(ctx: "FlowContext", flush_id: str, marker: Any, marks: Sequence[Any], quantities: dict[str, int],
                    so_ids: Sequence[str], read_from_store: dict[str, tuple[int, int]],
                    trace: tuple[str, str, dict[str, Any]]) -> Any:
    """The writes that close the flush's window before its upload goes out, sent with the upload's
    rate-limit grant (ports.GrantRiders): its TAKEN record (only if absent: what it sends), the
    dirty marks of their own it read cleared (each at the version read), the levels read from
    店+ (P7, each only over a lower version), the marker closed at the version read taking the
    members it read, and the trace. None where they do not go in one request with the grant (one
    upload, at most 99 items): the flush then records them after its upload, as before."""
    from ..ports import GrantRiders, TogetherWrite

    if flush_id == "manual" or len(so_ids) != 1 or len(marks) + len(read_from_store) + 4 > TRANSACTION_ITEMS:
        return None
    at = ctx.now().isoformat()
    writes = [TogetherWrite(TAKEN, flush_id, {"sent": dict(quantities), "so_ids": list(so_ids), "at": at},
                            expect_version=True, expected_version=None, ttl_days=DIRTY_TTL_DAYS)]
    writes += [TogetherWrite(DIRTY, mark.key, {"cleared": True, "at": at}, expect_version=True,
                             expected_version=mark.version, ttl_days=DIRTY_TTL_DAYS) for mark in marks]
    writes += [TogetherWrite(STORE_LEVEL, pair, {"qty": qty, "version": version}, rank=version)
               for pair, (qty, version) in read_from_store.items()]
    writes.append(TogetherWrite(DIRTY, MARKER, {"flush_id": flush_id, "closed": True, "at": at, "listed": True,
                                                **NOT_A_SKU}, rank=0, expect_version=True,
                                expected_version=marker.version, ttl_days=DIRTY_TTL_DAYS,
                                drop_members=tuple(sorted(marker.members))))
    return GrantRiders(ctx.ent_id, writes, trace, ctx.records.write_together)


def _send_taken_again(ctx: "FlowContext", flush_id: str, taken: Any, asked: set[tuple[str, str]],
                      found: dict[tuple[str, str], Any]) -> dict[str, Any]:
    """The flush ran before and closed its window (its TAKEN record), but whether its upload went
    out is not known (the process died, the upload failed, SQS delivered the message twice): the
    SKUs it took are sent again at their levels now. The same levels give the same upload id, which
    the ERP takes once (a repeat counts as done); newer levels are the stores' newer figures, which
    replace the ERP's (a count sets the quantity: sending it again counts nothing twice). Nothing
    is written but the trace."""
    skus = sorted(taken.data.get("sent") or {})
    if not skus:
        return {"skus": 0, "uploads": 0}
    quantities = offline_quantities(ctx, skus, read=(asked, found))
    items = [{"sku_id": sku, "qty": quantities[sku]} for sku in skus]
    uploads = _upload_counts(ctx, items, so_id_base=f"O2O-S4-{flush_id}-{_stable_hash(items)[:8]}",
                             remark="店+ store stock (near real time)")
    ctx.timeline.record("stock:offline", ctx.ent_id, "stock.offline.uploaded", {
        "warehouse": ctx.erp.info.virtual_warehouse, "skus": len(items), "so_ids": uploads, "sample": items[:10],
        "again": "the flush had closed its window; its upload was sent again"})
    return {"skus": len(items), "uploads": len(uploads), "again": True}


def _so_ids(ctx: "FlowContext", items: Sequence[Any], so_id_base: str) -> list[str]:
    size = ctx.erp.info.max_stock_items_per_upload
    return [f"{so_id_base}-{number}" for number, _ in enumerate(range(0, len(items), size), start=1)]


def _upload_counts(ctx: "FlowContext", items: Sequence[dict[str, Any]], *, so_id_base: str, remark: str,
                   riders: Any = None) -> list[str]:
    """A flush's counts, ≤ ``erp.info.max_stock_items_per_upload`` items each. No effect record
    around them: the upload id is the flush's and its content's, and the ERP takes an id once
    (Erp.upload_store_stock: JST answers a second upload of one so_id with 160 "…已存在", which
    counts as done). A flush run again (a crash after the ERP took it, a queue message delivered
    twice) finds the same marker (or its TAKEN record) and levels, so the same ids: the ERP refuses
    them, nothing is counted twice; the marker's closing records the flush's "done". ``riders``
    go with the first upload's rate-limit grant (ports.GrantRiders)."""
    done = []
    size = ctx.erp.info.max_stock_items_per_upload
    for number, start in enumerate(range(0, len(items), size), start=1):
        so_id = f"{so_id_base}-{number}"
        part = items[start:start + size]
        ctx.erp.upload_store_stock(so_id, [SkuQty(i["sku_id"], int(i["qty"])) for i in part], remark=remark,
                                   **({"riders": riders} if riders is not None and number == 1 else {}))
        done.append(so_id)
    return done


FLUSHED_PER_WRITE = 97  # writes of a flush's transaction besides the marker, its trace and a level: at most 100


def _record_flushed(ctx: "FlowContext", skus: Sequence[str], marks: Sequence[Any], quantities: dict[str, int],
                    trace: tuple[str, str, dict[str, Any]] | None, marker: Any, flush_id: str,
                    read_from_store: dict[str, tuple[int, int]] | None = None) -> None:
    """What the flush sent (EVENT_PUSHED, one item a SKU), the dirty marks of their own it read
    (``marks``) cleared, each conditional on the mark it read (a SKU marked again while we pushed
    stays dirty), and the marker closed taking the members it read, only at the version read: an
    event that rode along since raised it, and the marker is then re-armed for a next flush with
    every member, queued after the write. Up to FLUSHED_PER_WRITE writes a request, the trace and
    the marker in the last. ``read_from_store``: levels read from 店+ for this flush (P7), recorded
    in the last write where they fit (each only over a lower version: an event's newer level
    stays), else one by one first."""
    from ..ports import TogetherWrite

    now = ctx.now()
    at = now.isoformat()
    own: list[tuple[str, Any]] = [(EVENT_PUSHED, sku) for sku in skus] + [(DIRTY, record) for record in marks]
    groups = [own[start:start + FLUSHED_PER_WRITE] for start in range(0, len(own), FLUSHED_PER_WRITE)] or [[]]
    levels = dict(read_from_store or {})
    if levels and len(groups[-1]) + len(levels) + 2 > 100:  # not in one transaction: apart
        for pair, (qty, version) in levels.items():
            claim_newer(ctx, STORE_LEVEL, pair, qty, version)
        levels = {}
    for number, group in enumerate(groups):
        last = number == len(groups) - 1
        clear = {record.key for kind, record in group if kind == DIRTY}
        rearm: str | None = None  # the next flush's id, once an event is known to have ridden along
        version = marker.version if marker is not None else None
        members: Sequence[str] = sorted(marker.members) if marker is not None else ()
        for _ in range(8):
            writes = []
            for kind, item in group:
                if kind == EVENT_PUSHED:
                    writes.append(TogetherWrite(EVENT_PUSHED, item, {"qty": quantities[item], "at": at},
                                                ttl_days=DIRTY_TTL_DAYS))
                elif item.key in clear:
                    writes.append(TogetherWrite(DIRTY, item.key, {"cleared": True, "at": at}, expect_version=True,
                                                expected_version=item.version, ttl_days=DIRTY_TTL_DAYS))
            if last:
                writes += [TogetherWrite(STORE_LEVEL, pair, {"qty": qty, "version": level_version}, rank=level_version)
                           for pair, (qty, level_version) in levels.items()]
            due = now + timedelta(seconds=ctx.tenant.stock.coalesce_seconds)
            if last and version is not None:
                writes.append(TogetherWrite(DIRTY, MARKER, {"flush_id": flush_id, "closed": True, "at": at, "listed": True,
                                                            **NOT_A_SKU}, rank=0, expect_version=True,
                                            expected_version=version, ttl_days=DIRTY_TTL_DAYS,
                                            drop_members=tuple(members))
                              if rearm is None else _marker_write(rearm, due, now, "flush", version=version))
            if not writes and trace is None:
                return
            refused = ctx.records.write_together(ctx.ent_id, writes, trace=trace if last else None)
            if refused is None:
                if rearm is not None:
                    _queue_flush(ctx, rearm, members)
                break
            clear -= {write.key for write, (failed, _) in zip(writes, refused)
                      if failed and write.kind == DIRTY and write.key != MARKER}
            # a level of 店+ refused: an event recorded that one or a newer one meanwhile, which stays
            levels = {pair: level for pair, level in levels.items()
                      if not any(failed and write.kind == STORE_LEVEL and write.key == pair
                                 for write, (failed, _) in zip(writes, refused))}
            failed, current = refused[-1] if last and version is not None else (False, None)
            if failed:
                if current is None or current.data.get("flush_id") not in (flush_id, rearm) or current.data.get("closed"):
                    version = None  # not ours any more (another flush's, or gone): left to its own flush
                else:  # events rode along since the read: their SKUs wait for the next flush
                    version, rearm = current.version, rearm or uuid.uuid4().hex[:12]
                    members = sorted(current.members)
        else:
            raise TransientError("the flush's records are being written by many workers at once; try again")


def _aggregate_keys(ctx: "FlowContext", skus: Sequence[str]) -> list[tuple[str, str]]:
    """What the S4 quantities of ``skus`` are worked out from: the feeding stores' levels, and what
    orders hold there when the tenant reports holds."""
    pairs = [f"{sku}|{store}" for sku in skus for store in feeding_stores(ctx.tenant)]
    return [(STORE_LEVEL, pair) for pair in pairs] + (
        reservations.reported_records(ctx, feeding_stores(ctx.tenant)) if pairs else [])


def offline_quantities(ctx: "FlowContext", skus: Sequence[str], *,
                       read: tuple[set[tuple[str, str]], dict[tuple[str, str], Any]] | None = None,
                       held_levels: dict[str, tuple[int, int]] | None = None) -> dict[str, int]:
    """S4 quantities from the recorded store levels; a feeding store never heard from for a
    SKU is read once from 店+ (P7) and recorded, or, given ``held_levels`` (a flush, which records
    them with what it sent, in its one write), held there, "<sku>|<store>" -> (qty, version).
    ``read``: records read already (the keys asked for, those found), not read again."""
    stores = feeding_stores(ctx.tenant)
    levels: dict[str, dict[str, int]] = {sku: {} for sku in skus}
    missing: dict[str, list[str]] = {store: [] for store in stores}
    # The feeding stores' levels of these SKUs and what orders hold there, read together in batches.
    keys = _aggregate_keys(ctx, skus)
    held_too = any(kind == reservations.RESERVATION_KIND for kind, _ in keys)
    asked, found = read or (set(), {})
    found = {key: record for key, record in found.items() if key in set(keys)}
    unread = [key for key in keys if key not in asked]
    if unread:
        found.update(ctx.records.get_many_of(ctx.ent_id, unread))
    for sku in skus:
        for store in stores:
            record = found.get((STORE_LEVEL, f"{sku}|{store}"))
            if record is not None:
                levels[sku][store] = int(record.data["qty"])
            else:
                missing[store].append(sku)
    for store, wanted in missing.items():
        if not wanted:
            continue
        for item in ctx.store.store_stock(store, wanted).items:
            if held_levels is not None:  # the flush records them with what it sent, in its one write
                held_levels[f"{item.sku_id}|{store}"] = (item.qty, item.version or 0)
            else:
                claim_newer(ctx, STORE_LEVEL, f"{item.sku_id}|{store}", item.qty, item.version or 0)
            levels.setdefault(item.sku_id, {})[store] = item.qty
    if held_too:  # dispatched orders hold their lines at the stores
        held_now = reservations.held_of([record for (kind, _), record in found.items()
                                         if kind == reservations.RESERVATION_KIND])
        levels = {sku: {store: qty - held_now.get((sku, store), 0) for store, qty in by_store.items()}
                  for sku, by_store in levels.items()}
    return {sku: offline_quantity(ctx.tenant, levels[sku]) for sku in skus}


# --- counts into the ERP ---------------------------------------------------------------------------


def upload_check_once(ctx: "FlowContext", so_id: str, items: Sequence[dict[str, Any]], *, remark: str) -> Any:
    """One count, once per upload id (an effect record), also across a crash between the ERP's
    answer and our record: the ERP recognises a repeated id (Erp.upload_store_stock)."""

    def upload() -> dict[str, Any]:
        repeat = ctx.erp.upload_store_stock(so_id, [SkuQty(i["sku_id"], int(i["qty"])) for i in items], remark=remark)
        return {"so_id": so_id, "items": len(items), **({"repeat": True} if repeat else {})}

    return kit.effect_once(ctx, f"stock-upload:{so_id}", upload).result
