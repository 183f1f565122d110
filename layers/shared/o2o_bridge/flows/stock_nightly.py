"""The 02:10 stock run (docs/architecture.md S4 nightly, S4e): compare, push only what changed.

stock.master: pos  all store stock (P8, paged) -> per SKU over the stores feeding the 店加线下仓,
                   minus safety stock -> compared with the snapshot of the last completed run ->
                   the changed SKUs to JST in full 500-item ``type=check`` uploads.
stock.master: erp  the JST stock of the store warehouses (full ts scan) -> compared with the
                   snapshot -> the changed levels to 店+ (P6); 店+ rows that disagree with JST
                   (drift) are re-sent too.

A run (one per tenant and Asia/Shanghai day) is planned once, then pushed in chunks:

1. plan: read both sides, diff, and store the plan (the chunks' items) and the next snapshot
   under a plan id. A stored chunk is never re-cut (a re-read could change a chunk's content
   under an so_id JST has already seen).
   ``pos`` streams: it reads P8 in SKU order (``order=sku``), so a SKU's total is final once
   the scan has passed it, and each full chunk of 500 changed SKUs is stored (with the SKUs it
   covers) and pushed while the read goes on; the upload time hides the read. A crash resumes
   the read after the last stored chunk's SKU (``sku_after``). The rest (the last partial
   chunk, SKUs gone from every store) is stored with the snapshot, and the run record's move
   from ``planning`` to ``pushing`` is the commit point of that tail.
   ``erp`` reads everything first; its run record, written last, is the commit point.
2. push: each chunk is one JST call (or one P6 call) done once (an effect record per chunk:
   its done-marker). Scheduled runs fan the chunks out through the retry queue (SQS) to the
   retry worker, so the work is not bound to one 15-minute invocation and a failed chunk is
   retried on its own; ``o2o stock nightly`` pushes them inline (a background thread, in
   chunk order, stopping at the first failure) with progress lines. Either way, running the
   same run again (a crash, a Scheduler retry) skips finished chunks.
3. 销退仓: with ``stock.sales_return_warehouse`` set, each run (once, before its plan) reads the
   whole 销退仓 source warehouse again and re-sends its ``return_qty`` levels to the store
   system's return warehouse (code 2) exactly as the hourly pull sends them (flows/
   sales_return_stock.py: a plain count, JST's version): a level the hourly pull missed or the
   store lost is repaired overnight, an unchanged one is not sent again.
4. finish: when every chunk is done the snapshot generation becomes current and the summary
   (rows read, changed, pushed, drift) goes to the timeline (key ``stock-nightly:<run>``) and
   to metrics.

Snapshots are compact on purpose: the pushed quantities of 5 000 SKUs per record, as
zlib-compressed JSON (about 20-40 KB, well under DynamoDB's 400 KB item limit). 50 000 SKUs
are 10 writes a night instead of 50 000, or of 1 M for one item per store row, which would
take longer than the upload itself at any affordable write capacity. Only the aggregate is
kept because only the aggregate is pushed: store moves that cancel out push nothing.
"""

from __future__ import annotations

import base64
import json
import queue
import threading
import uuid
import zlib
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable

from ..errors import BridgeError
from . import kit, reservations, sales_return_stock
from ..shanghai_time import SHANGHAI
from .stock_sync import EVENT_PUSHED, P6_MAX, TAKEN, feeding_stores, levels_of, resend_sales_return, upload_check_once

if TYPE_CHECKING:
    from .kit import FlowContext

RUN = "stock.nightly.run"  # "<run_id>" -> state (planning|pushing|done), plan_id, chunks, counts, summary
PLAN = "stock.nightly.plan"  # "<run_id>|<plan_id>|<chunk>" or "<run_id>|<plan_id>|<tail>|<chunk>" -> {z: chunk}
SNAPSHOT = "stock.snapshot"  # "<scope>|<generation>|<part>" -> {z: compressed {key: qty}}
SNAPSHOT_HEAD = "stock.snapshot.head"  # "<scope>" -> {generation, parts}
CHUNK_COMMAND = "stock.nightly_chunk"
SNAPSHOT_PART = 5_000
PLAN_TTL_DAYS = 14
P8_PAGE = 1_000  # P8's largest page
MAX_PUSH_WORKERS = 10  # inline pushes at a time (at most the tenant's JST calls a second)

Progress = Callable[[str], None]


class NightlyRunError(BridgeError):
    pass


def event_path_figures(ctx: "FlowContext") -> dict[str, Any]:
    """What the near-real-time path last sent JST per SKU (``event_path_sent`` without the times)."""
    return {sku: qty for sku, (_, qty) in event_path_sent(ctx).items()}


def event_path_sent(ctx: "FlowContext", sku: str | None = None) -> dict[str, tuple[str, Any]]:
    """SKU -> (when, qty) the near-real-time path last sent JST (``sku``: that one only): a flush's
    figures per SKU (EVENT_PUSHED, a flush that recorded them after its upload) and per flush
    (TAKEN, a flush that closed its window with its upload's grant: kept 2 days), the latest."""
    if sku is None:
        latest = {r.key: (str(r.data.get("at") or ""), r.data.get("qty"))
                  for r in ctx.records.list(ctx.ent_id, EVENT_PUSHED)}
    else:
        record = ctx.records.get(ctx.ent_id, EVENT_PUSHED, sku)
        latest = {sku: (str(record.data.get("at") or ""), record.data.get("qty"))} if record else {}
    for record in ctx.records.list(ctx.ent_id, TAKEN):
        at = str(record.data.get("at") or "")
        for name, qty in (record.data.get("sent") or {}).items():
            if (sku is None or name == sku) and (name not in latest or latest[name][0] <= at):
                latest[name] = (at, qty)
    return latest


def pack(value: Any) -> str:
    return base64.b64encode(zlib.compress(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(), 6)).decode()


def unpack(text: str) -> Any:
    return json.loads(zlib.decompress(base64.b64decode(text)))


# --- compact storage ------------------------------------------------------------------------------


def load_snapshot(ctx: "FlowContext", scope: str) -> dict[str, int]:
    head = ctx.records.get(ctx.ent_id, SNAPSHOT_HEAD, scope)
    if head is None:
        return {}
    snapshot: dict[str, int] = {}
    generation = head.data["generation"]
    for part in range(int(head.data["parts"])):
        record = ctx.records.get(ctx.ent_id, SNAPSHOT, f"{scope}|{generation}|{part:05d}")
        if record is None:
            raise NightlyRunError(f"stock snapshot {scope}/{generation} part {part} is missing; "
                                  f"delete record {SNAPSHOT_HEAD}/{scope} to push everything once")
        snapshot.update(unpack(record.data["z"]))
    return snapshot


def write_snapshot(ctx: "FlowContext", scope: str, generation: str, values: dict[str, int]) -> int:
    keys = sorted(values)
    parts = 0
    for parts, start in enumerate(range(0, len(keys), SNAPSHOT_PART), start=1):
        chunk = {k: values[k] for k in keys[start:start + SNAPSHOT_PART]}
        ctx.records.put(ctx.ent_id, SNAPSHOT, f"{scope}|{generation}|{parts - 1:05d}", {"z": pack(chunk)},
                        expected_version=None, ttl_days=None)
    return parts


# --- the run ---------------------------------------------------------------------------------------


def run_id_for(ctx: "FlowContext") -> str:
    return ctx.now().astimezone(SHANGHAI).strftime("%Y%m%d")


def nightly_stock_push(ctx: "FlowContext", *, run_id: str | None = None, fan_out: bool = True,
                       progress: Progress | None = None, push_workers: int | None = None) -> dict[str, Any]:
    """Plan (or resume) tonight's run and push its chunks: queued for the retry worker
    (``fan_out``) or here, reporting ``progress`` (``push_workers`` calls at a time, by default
    the tenant's JST calls per second)."""
    from ..retry import RetryEnvelope  # loaded by the run, not by every cold start

    workers = push_workers or min(MAX_PUSH_WORKERS, ctx.erp.info.calls_per_second)
    say = progress or (lambda line: None)
    run_id = run_id or run_id_for(ctx)
    returns = _sales_return_once(ctx, run_id, say)
    run = ctx.records.get(ctx.ent_id, RUN, run_id)
    if run is not None and run.data["state"] == "done":
        if not kit.effect_done(ctx, f"stock-nightly:{run_id}:finish"):
            return finish_run(ctx, run_id, say)  # closed by a run that died before its "done"
        say(f"run {run_id} is already done")
        return {"run": run_id, "state": "done", **run.data["summary"]}
    if run is None and ctx.tenant.stock.master == "pos" and not feeding_stores(ctx.tenant):
        say("no store of this tenant feeds the 店加线下仓 (stores[].feeds_offline): nothing to push")
        return {"run": run_id, "state": "skipped", "reason": "no store feeds the 店加线下仓",
                **({"sales_return": returns} if returns else {})}
    dispatched: set[int] = set()  # chunks the streaming plan already pushed or queued
    if (run is None and ctx.tenant.stock.master == "pos") or (run is not None and run.data["state"] == "planning"):
        run = _stream_store_to_jst(ctx, run_id, run, fan_out, say, dispatched, workers)
        if run.data["state"] == "done":
            return {"run": run_id, "state": "done", **run.data["summary"]}
    elif run is None:
        run = plan_run(ctx, run_id, say)
    data = run.data
    pending = [n for n in range(data["chunks"]) if not kit.effect_done(ctx, chunk_key(run_id, n))]
    if dispatched:
        if fan_out:
            pending = [n for n in pending if n not in dispatched]
            if not pending and _chunks_done(ctx, run_id) >= data["chunks"]:  # the workers were quicker
                return finish_run(ctx, run_id, say)
            if not pending:
                return {"run": run_id, "state": "pushing", "queued": len(dispatched), **counts_of(data)}
        else:
            say(f"run {run_id}: {data['chunks'] - len(pending)} of {data['chunks']} chunks pushed while reading")
    if len(pending) < data["chunks"] and not (dispatched and not fan_out):
        say(f"resuming run {run_id}: {data['chunks'] - len(pending)} of {data['chunks']} chunks already pushed")
    if fan_out and pending:
        for n in pending:
            ctx.queue.enqueue(RetryEnvelope(command=CHUNK_COMMAND, ent_id=ctx.ent_id, payload={"run": run_id, "chunk": n},
                                            trace_key=f"stock-nightly:{run_id}"), 0)
        say(f"queued {len(pending)} chunks for the retry worker")
        return {"run": run_id, "state": "pushing", "queued": len(pending), **counts_of(data)}
    for done, n in enumerate(pending, start=1):
        push_chunk(ctx, run_id, n)
        say(f"chunk {n + 1}/{data['chunks']} pushed ({done}/{len(pending)} this time)")
    return finish_run(ctx, run_id, say)


def _sales_return_once(ctx: "FlowContext", run_id: str, say: Progress) -> dict[str, Any] | None:
    """The 销退仓 levels re-sent once per run (a resumed run does not read them again)."""
    source = sales_return_stock.source_warehouse(ctx.tenant)
    if source is None:
        return None

    def resend() -> dict[str, Any]:
        summary = resend_sales_return(ctx, source)
        ctx.timeline.record(f"stock-nightly:{run_id}", ctx.ent_id, "stock.nightly.sales_return", summary)
        return summary

    outcome = kit.effect_once(ctx, f"stock-nightly:{run_id}:sales-return", resend, ttl_days=PLAN_TTL_DAYS)
    if not outcome.repeated:
        result = outcome.result
        say(f"销退仓: {result.get('read', 0)} levels of warehouse {source} re-read for the store system's "
            f"warehouse {result.get('warehouse')}: {result.get('applied', 0)} sent, "
            f"{result.get('unchanged', 0)} unchanged")
    return outcome.result


def counts_of(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data.get(k) for k in ("direction", "rows_read", "changed", "drift", "planned", "chunks")}


def _chunks_done(ctx: "FlowContext", run_id: str) -> int:
    return sum(1 for r in ctx.records.list(ctx.ent_id, kit.EFFECT_KIND, prefix=f"stock-nightly:{run_id}:chunk:")
               if r.data.get("state") == "done")


def chunk_key(run_id: str, n: int) -> str:
    return f"stock-nightly:{run_id}:chunk:{n:05d}"


def plan_run(ctx: "FlowContext", run_id: str, say: Progress):
    """An ``erp`` run: both sides read in full, then the chunks, the snapshot and (last, the
    commit point) the run record."""
    plan_id = uuid.uuid4().hex[:8]
    scope, chunks, snapshot, counts = _plan_jst_to_stores(ctx, say)  # pos runs stream instead
    generation = f"{run_id}-{plan_id}"
    for n, chunk in enumerate(chunks):
        ctx.records.put(ctx.ent_id, PLAN, f"{run_id}|{plan_id}|{n:05d}", {"z": pack(chunk)}, ttl_days=PLAN_TTL_DAYS)
    parts = write_snapshot(ctx, scope, generation, snapshot)
    data = {"state": "pushing", "plan_id": plan_id, "scope": scope, "generation": generation, "parts": parts,
            "chunks": len(chunks), "planned": sum(len(c["items"]) for c in chunks),
            "started_at": ctx.now().isoformat(), **counts}
    run = ctx.records.put(ctx.ent_id, RUN, run_id, data, ttl_days=PLAN_TTL_DAYS * 4)
    if run is None:  # another invocation planned the same run first: follow its plan
        run = ctx.records.get(ctx.ent_id, RUN, run_id)
    say(f"run {run_id} planned: {counts['rows_read']} rows read, {counts['changed']} changed, "
        f"{counts['drift']} drift, {data['planned']} to push in {len(chunks)} calls")
    ctx.timeline.record(f"stock-nightly:{run_id}", ctx.ent_id, "stock.nightly.planned",
                        {k: v for k, v in data.items() if k not in ("state",)})
    return run


class _InlinePusher:
    """``o2o stock nightly``: pushes stored chunks, in order, on background threads while the
    plan reads on; after a failure it starts no more (a re-run resumes from there). As many
    threads as JST allows calls a second: a second's calls go out together, not one after the
    other's answer (each upload takes tens of ms), so the pushes keep to the rate-limit bound."""

    def __init__(self, ctx: "FlowContext", run_id: str, say: Progress, workers: int) -> None:
        self.ctx, self.run_id, self.say = ctx, run_id, say
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="stock-nightly-push")
        self.futures: list[Future] = []
        self.failed = threading.Event()

    def __call__(self, n: int) -> None:
        self.futures.append(self.pool.submit(self._push, n))

    def _push(self, n: int) -> None:
        if self.failed.is_set():
            return
        try:
            push_chunk(self.ctx, self.run_id, n)
        except BaseException:
            self.failed.set()
            raise
        self.say(f"chunk {n + 1} pushed")

    def wait(self) -> None:
        """Every queued push finished; the first failure raised."""
        self.pool.shutdown(wait=True)
        for future in self.futures:
            future.result()


def _stream_store_to_jst(ctx: "FlowContext", run_id: str, run: Any, fan_out: bool, say: Progress,
                         dispatched: set[int], workers: int):
    """Plan (or resume planning) a ``pos`` run while its chunks are pushed: P8 in SKU order;
    each time 500 SKUs are known to have changed they become the next chunk, stored and then
    pushed (``fan_out``: queued for the retry worker) while the read goes on. Returns the
    committed run record (state ``pushing``; ``done`` when every chunk is already done)."""
    old = load_snapshot(ctx, "offline")
    if run is None:
        started = {"state": "planning", "plan_id": uuid.uuid4().hex[:8], "scope": "offline",
                   "direction": "store->jst", "started_at": ctx.now().isoformat(),
                   "ranges": sku_ranges(old, ctx.tenant.pos.parallel_reads)}
        run = ctx.records.put(ctx.ent_id, RUN, run_id, started, ttl_days=PLAN_TTL_DAYS * 4)
        if run is None:  # another invocation started the same run first: follow it
            run = ctx.records.get(ctx.ent_id, RUN, run_id)
            if run.data["state"] != "planning":
                return run
    plan_id = run.data["plan_id"]
    prefix = f"{run_id}|{plan_id}|"
    stored = [unpack(r.data["z"]) for r in ctx.records.list(ctx.ent_id, PLAN, prefix=prefix)
              if r.key.count("|") == 2]  # read chunks; a tail is only valid once committed
    pusher: _InlinePusher | None = None
    if fan_out:
        from ..retry import RetryEnvelope

        def push(n: int) -> None:
            dispatched.add(n)
            ctx.queue.enqueue(RetryEnvelope(command=CHUNK_COMMAND, ent_id=ctx.ent_id,
                                            payload={"run": run_id, "chunk": n},
                                            trace_key=f"stock-nightly:{run_id}"), 0)
    else:
        pusher = _InlinePusher(ctx, run_id, say, workers)

        def push(n: int) -> None:
            dispatched.add(n)
            pusher(n)
    if stored:
        pending = [n for n in range(len(stored)) if not kit.effect_done(ctx, chunk_key(run_id, n))]
        say(f"resuming run {run_id}: {len(stored) - len(pending)} of {len(stored)} chunks planned so far "
            f"already pushed; reading on after SKU {', '.join(p or '(start)' for p in _positions(run, stored))}")
        for n in pending:
            push(n)
    try:
        return _read_and_commit(ctx, run_id, run, stored, push, say, old)
    finally:
        if pusher is not None:
            pusher.wait()


def sku_ranges(snapshot: dict[str, int], readers: int) -> list[str]:
    """The SKUs that end each range but the last (P8 ``sku_until``): the last run's SKUs cut
    into ``readers`` ranges of about the same size. Tonight's new SKUs fall into whichever
    range holds them in the store's order, so every SKU is read once; if the store sorted
    SKUs otherwise than these bounds, ranges would overlap and the run stops on the first SKU
    read twice (never a wrong total). The first run (no snapshot) reads in one stream."""
    keys = sorted(snapshot)
    if readers <= 1 or len(keys) < readers * P8_PAGE:  # under a page a range: not worth a scan
        return []
    return sorted({keys[len(keys) * n // readers - 1] for n in range(1, readers)})


def _positions(run: Any, stored: list[dict[str, Any]]) -> list[str | None]:
    """Per range, the last SKU a stored chunk covers (the read resumes after it)."""
    positions: list[str | None] = [None] * (len(run.data.get("ranges") or []) + 1)
    for chunk in stored:
        for n, sku in enumerate(chunk.get("positions") or [chunk["last_sku"]]):
            positions[n] = sku or positions[n]
    return positions


def _read_ranges(ctx: "FlowContext", bounds: list[str], positions: list[str | None]):
    """Store stock rows in SKU order, each range by its own P8 scan, the scans side by side:
    yields ``(range, rows)`` (``rows`` at most a page; a range's batches in its order). The
    scans wait while the reader is behind (at most two batches a range are held)."""
    batches: queue.Queue = queue.Queue(maxsize=2 * (len(bounds) + 1))
    stop = threading.Event()
    ends = [*bounds, None]

    def scan(n: int) -> None:
        rows: Any = None
        try:
            start = positions[n] or (bounds[n - 1] if n else None)
            scanned = ctx.store.scan_stock(limit=P8_PAGE, order="sku", sku_after=start, sku_until=ends[n],
                                           quantities_only=True)
            rows = []
            try:
                for row in scanned:
                    rows.append(row)
                    if len(rows) == P8_PAGE:
                        if not _hand_over(batches, stop, (n, rows)):
                            return
                        rows = []
            finally:
                close = getattr(scanned, "close", None)
                if close is not None:
                    close()  # its page fetch stops too
            _hand_over(batches, stop, (n, rows))
            rows = None  # the range is read
        except BaseException as exc:  # handed to the reader, raised there
            rows = exc
        finally:
            _hand_over(batches, stop, (n, rows if isinstance(rows, BaseException) else None))

    readers = [threading.Thread(target=scan, args=(n,), name=f"p8-range-{n}", daemon=True)
               for n in range(len(ends))]
    for reader in readers:
        reader.start()
    open_ranges = len(readers)
    try:
        while open_ranges:
            n, rows = batches.get()
            if isinstance(rows, BaseException):
                raise rows
            if rows is None:
                open_ranges -= 1
                continue
            yield n, rows
    finally:
        stop.set()


def _hand_over(batches: queue.Queue, stop: threading.Event, item: Any) -> bool:
    while not stop.is_set():
        try:
            batches.put(item, timeout=0.5)
            return True
        except queue.Full:
            continue
    return False


def _read_and_commit(ctx: "FlowContext", run_id: str, run: Any, stored: list[dict[str, Any]],
                     push: Callable[[int], None], say: Progress, old: dict[str, int]):
    tenant = ctx.tenant
    plan_id = run.data["plan_id"]
    stores = feeding_stores(tenant)
    tenant_safety = tenant.stock.safety_stock
    bounds = list(run.data.get("ranges") or [])
    # Drift: a change the near-real-time path (store events) did not deliver to JST.
    event_pushed = event_path_figures(ctx)
    held = reservations.by_sku_and_store(ctx)  # what dispatched orders hold at the stores
    seen: set[str] = set()
    for chunk in stored:
        seen.update(chunk["seen"])
    items: list[dict[str, Any]] = []
    covered: list[str] = []
    counts = {"rows": 0, "drift": 0}
    positions = _positions(run, stored)  # per range, the last SKU settled

    def cut(last_sku: str) -> None:
        n = len(stored)
        chunk = {"items": list(items), "last_sku": last_sku, "positions": list(positions), "seen": list(covered),
                 **counts}
        if ctx.records.put(ctx.ent_id, PLAN, f"{run_id}|{plan_id}|{n:05d}", {"z": pack(chunk)},
                           ttl_days=PLAN_TTL_DAYS) is None:
            raise NightlyRunError(f"stock run {run_id}: another invocation is planning it (chunk {n} exists); "
                                  "this one stops")
        stored.append(chunk)
        items.clear()
        covered.clear()
        counts.update(rows=0, drift=0)
        push(n)

    def settle(n: int, sku: str, total: int, sku_rows: int) -> None:
        if sku in seen:
            raise NightlyRunError(f"店+ P8 order=sku gave SKU {sku!r} twice, apart: its total would be wrong")
        seen.add(sku)
        covered.append(sku)
        positions[n] = sku
        counts["rows"] += sku_rows  # a chunk counts the rows of the SKUs it covers
        qty = max(0, total - tenant_safety)
        if old.get(sku) != qty:
            items.append({"sku_id": sku, "qty": qty})
            counts["drift"] += event_pushed.get(sku) != qty
            if len(items) == ctx.erp.info.max_stock_items_per_upload:
                cut(sku)

    # Per range: the SKU being summed, its total and rows so far (a SKU is settled once its
    # range moves on to the next SKU, or ends).
    current: list[str | None] = [None] * len(positions)
    totals, sku_rows = [0] * len(positions), [0] * len(positions)
    rows = 0
    held_skus = {sku for sku, _store in held}  # most SKUs hold nothing: no per-row lookup for them
    for n, batch in _read_ranges(ctx, bounds, positions):
        sku_now, total, count = current[n], totals[n], sku_rows[n]
        holds = sku_now in held_skus
        for store_code, sku, qty in batch:
            if sku != sku_now:
                if sku_now is not None:
                    settle(n, sku_now, total, count)
                sku_now, total, count = sku, 0, 0
                holds = sku in held_skus
            count += 1
            if holds:
                qty -= held.get((sku, store_code), 0)
            safety = stores.get(store_code)
            if safety is not None and qty > safety:
                total += qty - safety
        current[n], totals[n], sku_rows[n] = sku_now, total, count
        before, rows = rows, rows + len(batch)
        if rows // 100_000 != before // 100_000:
            say(f"read {rows} store stock rows")
    for n, sku_now in enumerate(current):
        if sku_now is not None:
            settle(n, sku_now, totals[n], sku_rows[n])
    # The tail: the last partial chunk and the SKUs gone from every store (nothing left to sell
    # online). Stored under a fresh tail id; the run record names the one that counts.
    for sku in sorted(sku for sku, qty in old.items() if qty != 0 and sku not in seen):
        items.append({"sku_id": sku, "qty": 0})
        counts["drift"] += event_pushed.get(sku) != 0
    tail_id = uuid.uuid4().hex[:6]
    size = ctx.erp.info.max_stock_items_per_upload
    tail = [items[i:i + size] for i in range(0, len(items), size)]
    for m, part in enumerate(tail):
        ctx.records.put(ctx.ent_id, PLAN, f"{run_id}|{plan_id}|{tail_id}|{len(stored) + m:05d}",
                        {"z": pack({"items": part})}, ttl_days=PLAN_TTL_DAYS)
    # The next snapshot: what JST holds once every chunk is in.
    snapshot = {sku: old[sku] for sku in seen if sku in old}
    for chunk in [*stored, *({"items": part} for part in tail)]:
        snapshot.update((i["sku_id"], i["qty"]) for i in chunk["items"] if i["sku_id"] in seen)
    generation = f"{run_id}-{plan_id}-{tail_id}"
    parts = write_snapshot(ctx, "offline", generation, snapshot)
    changed = sum(len(c["items"]) for c in stored) + len(items)
    data = {**run.data, "state": "pushing", "tail": tail_id, "read_chunks": len(stored),
            "chunks": len(stored) + len(tail), "planned": changed, "generation": generation, "parts": parts,
            "rows_read": sum(c["rows"] for c in stored) + counts["rows"], "changed": changed,
            "drift": sum(c["drift"] for c in stored) + counts["drift"]}
    committed = ctx.records.put(ctx.ent_id, RUN, run_id, data, expected_version=run.version,
                                ttl_days=PLAN_TTL_DAYS * 4)
    if committed is None:  # another invocation committed this run first: follow its plan
        return ctx.records.get(ctx.ent_id, RUN, run_id)
    say(f"run {run_id} planned: {data['rows_read']} rows read, {changed} changed, {data['drift']} drift, "
        f"{changed} to push in {data['chunks']} calls")
    ctx.timeline.record(f"stock-nightly:{run_id}", ctx.ent_id, "stock.nightly.planned",
                        {k: v for k, v in data.items() if k not in ("state",)})
    for n in range(len(stored), data["chunks"]):
        push(n)
    return committed


def _plan_jst_to_stores(ctx: "FlowContext", say: Progress):
    tenant = ctx.tenant
    values: dict[str, dict[str, Any]] = {}
    rows = 0
    for location in ctx.erp.stock_locations():
        page = ctx.erp.stock_changes(location.warehouse_code, None)
        rows += len(page.levels)
        for level in levels_of(tenant, page.levels):
            values[f"{location.pos_code}|{level['sku_id']}"] = level
        say(f"read {len(page.levels)} ERP rows of warehouse {location.warehouse_code}")
    store_side: dict[str, int] = {}
    for store_code, sku, qty in ctx.store.scan_stock(limit=P8_PAGE, quantities_only=True):
        rows += 1
        key = f"{store_code}|{sku}"
        if key in values:
            store_side[key] = qty
    snapshot = load_snapshot(ctx, "erp")
    changed = {key for key, level in values.items() if snapshot.get(key) != level["qty"]}
    drifted = {key for key, level in values.items() if store_side.get(key, 0) != level["qty"]}
    push = sorted(changed | drifted)
    chunks: list[dict[str, Any]] = []
    by_store: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for key in push:
        by_store[key.split("|", 1)[0]].append(values[key])
    for code, levels in sorted(by_store.items()):
        chunks.extend({"warehouse_code": code, "items": levels[i:i + P6_MAX]} for i in range(0, len(levels), P6_MAX))
    target = {key: level["qty"] for key, level in values.items()}
    return "erp", chunks, target, {"direction": "jst->stores", "rows_read": rows, "changed": len(changed),
                                   "drift": len(drifted - changed)}


def _chunk(ctx: "FlowContext", run_id: str, n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    run = ctx.records.get(ctx.ent_id, RUN, run_id)
    if run is None:
        raise NightlyRunError(f"stock run {run_id} has no plan")
    data = run.data
    tail = f"{data['tail']}|" if data.get("tail") and n >= data["read_chunks"] else ""
    record = ctx.records.get(ctx.ent_id, PLAN, f"{run_id}|{data['plan_id']}|{tail}{n:05d}")
    if record is None:
        raise NightlyRunError(f"stock run {run_id} chunk {n} is missing from its plan")
    return run.data, unpack(record.data["z"])


def push_chunk(ctx: "FlowContext", run_id: str, n: int) -> Any:
    """One chunk, once: its effect record is the chunk's done-marker."""
    data, chunk = _chunk(ctx, run_id, n)
    head = ctx.records.get(ctx.ent_id, SNAPSHOT_HEAD, data["scope"])
    if head is not None and head.data.get("started_at", "") > data["started_at"]:
        # A later run finished first (this chunk waited in the DLQ and was replayed): its values
        # are newer; pushing these would set JST or the stores back.
        ctx.timeline.record(f"stock-nightly:{run_id}", ctx.ent_id, "stock.nightly.chunk_superseded",
                            {"chunk": n, "by_run": head.data.get("run")}, level="warning")
        return {"superseded_by": head.data.get("run"), "items": 0}

    def push() -> dict[str, Any]:
        if data["direction"] == "store->jst":
            so_id = f"O2O-NIGHT-{run_id}-{data['plan_id'][:6]}-{n + 1:04d}"
            upload_check_once(ctx, so_id, chunk["items"], remark=f"店+ nightly stock {run_id}")
            return {"so_id": so_id, "items": len(chunk["items"])}
        from ..connectors.store.models import StockLevel

        levels = [StockLevel(sku_id=i["sku_id"], qty=i["qty"], version=i["version"]) for i in chunk["items"]]
        done = ctx.store.set_warehouse_stock(chunk["warehouse_code"], levels,
                                             business_key=f"nightly-{run_id}-{data['plan_id']}-{n}")
        return {"warehouse_code": chunk["warehouse_code"], "items": len(levels), "applied": done.applied}

    return kit.effect_once(ctx, chunk_key(run_id, n), push, ttl_days=PLAN_TTL_DAYS).result


@kit.flow_command(CHUNK_COMMAND)
def push_chunk_command(ctx: "FlowContext", payload: dict[str, Any]) -> Any:
    """A fanned-out chunk (retry worker); the last one to finish closes the run."""
    run_id, n = payload["run"], int(payload["chunk"])
    result = push_chunk(ctx, run_id, n)
    run = ctx.records.get(ctx.ent_id, RUN, run_id)
    # While the run is still planning more chunks may come; the planner closes it then.
    if run is not None and run.data["state"] == "pushing" and _chunks_done(ctx, run_id) >= run.data["chunks"]:
        finish_run(ctx, run_id)
    return result


def finish_run(ctx: "FlowContext", run_id: str, say: Progress | None = None) -> dict[str, Any]:
    def finish() -> dict[str, Any]:
        run = ctx.records.get(ctx.ent_id, RUN, run_id)
        data = run.data
        if data["state"] == "done":
            return data["summary"]  # closed by a run that died before its "done"
        pushed = sum(int((r.data.get("result") or {}).get("items", 0))
                     for r in ctx.records.list(ctx.ent_id, kit.EFFECT_KIND, prefix=f"stock-nightly:{run_id}:chunk:")
                     if r.data.get("state") == "done")
        old = ctx.records.get(ctx.ent_id, SNAPSHOT_HEAD, data["scope"])
        ctx.records.put(ctx.ent_id, SNAPSHOT_HEAD, data["scope"],
                        {"generation": data["generation"], "parts": data["parts"], "run": run_id,
                         "started_at": data["started_at"]},
                        expected_version=old.version if old else None)
        if old is not None and old.data["generation"] != data["generation"]:
            for part in range(int(old.data["parts"])):
                ctx.records.delete(ctx.ent_id, SNAPSHOT, f"{data['scope']}|{old.data['generation']}|{part:05d}")
        summary = {**counts_of(data), "pushed": pushed, "finished_at": ctx.now().isoformat()}
        ctx.records.put(ctx.ent_id, RUN, run_id, {**data, "state": "done", "summary": summary},
                        expected_version=run.version)
        ctx.timeline.record(f"stock-nightly:{run_id}", ctx.ent_id, "stock.nightly.done", summary)
        for name, key in (("StockNightlyRowsRead", "rows_read"), ("StockNightlyChanged", "changed"),
                          ("StockNightlyPushed", "pushed"), ("StockNightlyDrift", "drift")):
            ctx.metric(name, summary[key])
        return summary

    summary = kit.effect_once(ctx, f"stock-nightly:{run_id}:finish", finish, ttl_days=PLAN_TTL_DAYS).result
    if say:
        say(f"run {run_id} done: {summary['rows_read']} rows read, {summary['changed']} changed, "
            f"{summary['pushed']} pushed, {summary['drift']} drift")
    return {"run": run_id, "state": "done", **summary}


def run_status(ctx: "FlowContext", run_id: str) -> dict[str, Any] | None:
    run = ctx.records.get(ctx.ent_id, RUN, run_id)
    if run is None:
        return None
    done = sum(1 for r in ctx.records.list(ctx.ent_id, kit.EFFECT_KIND, prefix=f"stock-nightly:{run_id}:chunk:")
               if r.data.get("state") == "done")
    return {"run": run_id, "state": run.data["state"], "chunks_done": done, **counts_of(run.data),
            **({"pushed": run.data["summary"]["pushed"]} if "summary" in run.data else {})}
