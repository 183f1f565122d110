"""The 02:10 stock run (ARCHITECTURE.md S4 nightly, S4e): compare, push only what changed.

stock.master: pos  all store stock (P8, paged) -> per SKU over the stores feeding the 店加线下仓,
                   minus safety stock -> compared with the snapshot of the last completed run ->
                   the changed SKUs to JST in full 500-item ``type=check`` uploads.
stock.master: erp  the JST stock of the store warehouses (full ts scan) -> compared with the
                   snapshot -> the changed levels to 店+ (P6); 店+ rows that disagree with JST
                   (drift) are re-sent too.

A run (one per tenant and Asia/Shanghai day) is planned once, then pushed in chunks:

1. plan: read both sides, diff, and store the plan (the chunks' items) and the next snapshot
   under a plan id; the run record, written last, is the commit point. A crash before it
   re-plans; after it, the stored plan is reused (a re-read could change a chunk's content
   under an so_id JST has already seen).
2. push: each chunk is one JST call (or one P6 call) done once (an effect record per chunk:
   its done-marker). Scheduled runs fan the chunks out through the retry queue (SQS) to the
   retry worker, so the work is not bound to one 15-minute invocation and a failed chunk is
   retried on its own; ``o2o stock nightly`` pushes them inline with progress lines. Either
   way, running the same run again (a crash, a Scheduler retry) skips finished chunks.
3. finish: when every chunk is done the snapshot generation becomes current and the summary
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
import uuid
import zlib
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Callable

from ..errors import BridgeError
from ..retry import RetryEnvelope
from . import kit
from .stock_sync import (EVENT_PUSHED, JST_UPLOAD_MAX, P6_MAX, SHANGHAI, feeding_stores,
                         levels_from_inventory, store_warehouse_codes, upload_check_once)

if TYPE_CHECKING:
    from .kit import FlowContext

RUN = "stock.nightly.run"  # "<run_id>" -> state, plan_id, chunks, counts, summary
PLAN = "stock.nightly.plan"  # "<run_id>|<plan_id>|<chunk>" -> {z: compressed chunk}
SNAPSHOT = "stock.snapshot"  # "<scope>|<generation>|<part>" -> {z: compressed {key: qty}}
SNAPSHOT_HEAD = "stock.snapshot.head"  # "<scope>" -> {generation, parts}
CHUNK_COMMAND = "stock.nightly_chunk"
SNAPSHOT_PART = 5_000
PLAN_TTL_DAYS = 14

Progress = Callable[[str], None]


class NightlyRunError(BridgeError):
    pass


# --- compact storage ------------------------------------------------------------------------------


def pack(value: Any) -> str:
    return base64.b64encode(zlib.compress(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(), 6)).decode()


def unpack(text: str) -> Any:
    return json.loads(zlib.decompress(base64.b64decode(text)))


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
                       progress: Progress | None = None) -> dict[str, Any]:
    """Plan (or resume) tonight's run and push its chunks: queued for the retry worker
    (``fan_out``) or here, in order, reporting ``progress``."""
    say = progress or (lambda line: None)
    run_id = run_id or run_id_for(ctx)
    run = ctx.records.get(ctx.ent_id, RUN, run_id)
    if run is not None and run.data["state"] == "done":
        say(f"run {run_id} is already done")
        return {"run": run_id, "state": "done", **run.data["summary"]}
    if run is None:
        if ctx.tenant.stock.master == "pos" and not feeding_stores(ctx.tenant):
            say("no store of this tenant feeds the 店加线下仓 (stores[].feeds_offline): nothing to push")
            return {"run": run_id, "state": "skipped", "reason": "no store feeds the 店加线下仓"}
        run = plan_run(ctx, run_id, say)
    data = run.data
    pending = [n for n in range(data["chunks"]) if not kit.effect_done(ctx, chunk_key(run_id, n))]
    if len(pending) < data["chunks"]:
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


def counts_of(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in ("direction", "rows_read", "changed", "drift", "planned", "chunks")}


def chunk_key(run_id: str, n: int) -> str:
    return f"stock-nightly:{run_id}:chunk:{n:05d}"


def plan_run(ctx: "FlowContext", run_id: str, say: Progress):
    plan_id = uuid.uuid4().hex[:8]
    if ctx.tenant.stock.master == "pos":
        scope, chunks, snapshot, counts = _plan_store_to_jst(ctx, say)
    else:
        scope, chunks, snapshot, counts = _plan_jst_to_stores(ctx, say)
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


def _plan_store_to_jst(ctx: "FlowContext", say: Progress):
    tenant = ctx.tenant
    stores = feeding_stores(tenant)
    totals: dict[str, int] = defaultdict(int)
    rows = 0
    for row in ctx.store.scan_stock(limit=1000):
        rows += 1
        safety = stores.get(row.store_code)
        totals[row.sku_id] += max(0, row.qty - safety) if safety is not None else 0
        if rows % 100_000 == 0:
            say(f"read {rows} store stock rows")
    target = {sku: max(0, total - tenant.stock.safety_stock) for sku, total in totals.items()}
    del totals
    snapshot = load_snapshot(ctx, "offline")
    changed = {sku: qty for sku, qty in target.items() if snapshot.get(sku) != qty}
    for sku, qty in snapshot.items():  # gone from every store: nothing left to sell online
        if sku not in target and qty != 0:
            changed[sku] = target[sku] = 0
    del snapshot
    # Drift: a change the near-real-time path (store events) did not deliver to JST.
    event_pushed = {r.key: r.data.get("qty") for r in ctx.records.list(ctx.ent_id, EVENT_PUSHED)}
    drift = sum(1 for sku, qty in changed.items() if event_pushed.get(sku) != qty)
    items = [{"sku_id": sku, "qty": changed[sku]} for sku in sorted(changed)]
    chunks = [{"items": items[i:i + JST_UPLOAD_MAX]} for i in range(0, len(items), JST_UPLOAD_MAX)]
    return "offline", chunks, target, {"direction": "store->jst", "rows_read": rows, "changed": len(changed),
                                       "drift": drift}


def _plan_jst_to_stores(ctx: "FlowContext", say: Progress):
    tenant = ctx.tenant
    stores = store_warehouse_codes(tenant)
    mappings = [w for w in tenant.warehouses if w.pos_warehouse_code in stores]
    values: dict[str, dict[str, Any]] = {}
    rows = 0
    for mapping in mappings:
        scan = ctx.jst.scan_inventory(start_ts=0, wms_co_id=mapping.jst_wms_co_id)
        rows += len(scan.records)
        for level in levels_from_inventory(tenant, scan.records):
            values[f"{mapping.pos_warehouse_code}|{level['sku_id']}"] = level
        say(f"read {len(scan.records)} JST rows of warehouse {mapping.jst_wms_co_id}")
    store_side: dict[str, int] = {}
    for row in ctx.store.scan_stock(limit=1000):
        rows += 1
        key = f"{row.store_code}|{row.sku_id}"
        if key in values:
            store_side[key] = row.qty
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
    record = ctx.records.get(ctx.ent_id, PLAN, f"{run_id}|{run.data['plan_id']}|{n:05d}")
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
        from ..adapters.pos.models import StockLevel

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
    done = sum(1 for r in ctx.records.list(ctx.ent_id, kit.EFFECT_KIND, prefix=f"stock-nightly:{run_id}:chunk:")
               if r.data.get("state") == "done")
    if run is not None and run.data["state"] != "done" and done >= run.data["chunks"]:
        finish_run(ctx, run_id)
    return result


def finish_run(ctx: "FlowContext", run_id: str, say: Progress | None = None) -> dict[str, Any]:
    def finish() -> dict[str, Any]:
        run = ctx.records.get(ctx.ent_id, RUN, run_id)
        data = run.data
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
