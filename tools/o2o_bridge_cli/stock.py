"""`o2o stock ...`: run the stock jobs by hand and look at one SKU's stock state (docs/stock-sync.md)."""

from __future__ import annotations

import json
import sys
import time


def register(commands) -> None:
    stock = commands.add_parser("stock", help="stock sync: nightly run by hand, hourly pull, one SKU's state")
    sub = stock.add_subparsers(dest="stock_command", required=True, metavar="ACTION")

    nightly = sub.add_parser("nightly", help="run (or resume) tonight's stock run now, with progress lines")
    nightly.add_argument("--tenant", required=True, metavar="ENT_ID")
    nightly.add_argument("--run-id", help="the run to start or resume (default: today in Asia/Shanghai, YYYYMMDD)")
    nightly.add_argument("--fan-out", action="store_true",
                         help="queue the chunks for the retry worker (as the 02:10 schedule does) instead of pushing here")
    nightly.set_defaults(run=run_nightly)

    status = sub.add_parser("status", help="where a nightly run stands")
    status.add_argument("--tenant", required=True, metavar="ENT_ID")
    status.add_argument("--run-id", help="default: today in Asia/Shanghai")
    status.set_defaults(run=show_status)

    pull = sub.add_parser("pull", help="pull JST warehouse stock since the ts cursors now (the hourly job)")
    pull.add_argument("--tenant", required=True, metavar="ENT_ID")
    pull.set_defaults(run=run_pull)

    show = sub.add_parser("show", help="what the bridge knows about one SKU: store levels, warehouse levels, "
                                       "what was pushed")
    show.add_argument("sku", metavar="SKU")
    show.add_argument("--tenant", required=True, metavar="ENT_ID")
    show.set_defaults(run=show_sku)


def _context(ent_id: str):
    from .. import runtime
    from .. import wiring
    from .environment import use_bridge_environment

    use_bridge_environment()
    tenant = runtime.state_store().get(ent_id)
    if tenant is None:
        print(f"o2o: no tenant {ent_id!r}", file=sys.stderr)
        return None
    return wiring.context_for(tenant)


def run_nightly(args) -> int:
    from ..flows import stock_nightly

    ctx = _context(args.tenant)
    if ctx is None:
        return 2
    started = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {line}", flush=True)

    summary = stock_nightly.nightly_stock_push(ctx, run_id=args.run_id, fan_out=args.fan_out, progress=progress)
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def show_status(args) -> int:
    from ..flows import stock_nightly

    ctx = _context(args.tenant)
    if ctx is None:
        return 2
    run_id = args.run_id or stock_nightly.run_id_for(ctx)
    status = stock_nightly.run_status(ctx, run_id)
    if status is None:
        print(f"no stock run {run_id} for tenant {args.tenant}")
        return 1
    print(json.dumps(status, ensure_ascii=False))
    return 0


def run_pull(args) -> int:
    from ..flows import stock_sync

    ctx = _context(args.tenant)
    if ctx is None:
        return 2
    for wms_co_id, result in stock_sync.pull_jst_stock(ctx).items():
        print(f"JST warehouse {wms_co_id}: {json.dumps(result, ensure_ascii=False)}")
    return 0


def show_sku(args) -> int:
    from ..flows import stock_nightly, stock_sync

    ctx = _context(args.tenant)
    if ctx is None:
        return 2
    sku, ent = args.sku, ctx.ent_id
    found = False
    for record in ctx.records.list(ent, stock_sync.STORE_LEVEL, prefix=f"{sku}|"):
        found = True
        print(f"store {record.key.split('|', 1)[1]:10} qty {record.data['qty']:>6}  version {record.data['version']}")
    for mapping in ctx.tenant.warehouses:
        record = ctx.records.get(ent, stock_sync.WAREHOUSE_LEVEL, f"{mapping.pos_warehouse_code}|{sku}")
        if record:
            found = True
            print(f"店+ warehouse {mapping.pos_warehouse_code} (JST {mapping.jst_wms_co_id}) qty {record.data['qty']:>6}  "
                  f"version {record.data['version']}  {'pushed' if record.data.get('pushed') else 'waiting for P6'}")
    dirty = ctx.records.get(ent, stock_sync.DIRTY, sku)
    if dirty and not dirty.data.get("cleared"):
        found = True
        print(f"waiting for the next flush to JST since {dirty.data['at']}")
    sent = ctx.records.get(ent, stock_sync.EVENT_PUSHED, sku)
    if sent:
        found = True
        print(f"last sent to JST offline warehouse by store events: qty {sent.data['qty']} at {sent.data['at']}")
    snapshot = stock_nightly.load_snapshot(ctx, "offline" if ctx.tenant.stock.master == "pos" else "erp")
    nightly = {k: v for k, v in snapshot.items() if k == sku or k.endswith(f"|{sku}")}
    for key, qty in sorted(nightly.items()):
        found = True
        print(f"last nightly run pushed {key}: qty {qty}")
    if not found:
        print(f"the bridge has no stock state for SKU {sku!r} of tenant {ent}")
        return 1
    return 0
