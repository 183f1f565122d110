"""`o2o stock ...`: run the stock jobs by hand and look at one SKU's stock state (docs/stock-sync.md)."""

from __future__ import annotations

from .. import wiring  # noqa: E402 - the composition root builds each tenant's context


import json
import time

from ._output import add_json_flag, echo, echo_json


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
    add_json_flag(status)
    status.set_defaults(run=show_status)

    pull = sub.add_parser("pull", help="pull JST warehouse stock since the ts cursors now (the hourly job)")
    pull.add_argument("--tenant", required=True, metavar="ENT_ID")
    pull.set_defaults(run=run_pull)

    show = sub.add_parser("show", help="what the bridge knows about one SKU: store levels, warehouse levels, "
                                       "what was pushed")
    show.add_argument("sku", metavar="SKU")
    show.add_argument("--tenant", required=True, metavar="ENT_ID")
    add_json_flag(show)
    show.set_defaults(run=show_sku)


def _context(ent_id: str):
    from .tenant import stored_tenant

    return wiring.context_for(stored_tenant(ent_id))


def run_nightly(args) -> int:
    from ..flows import stock_nightly

    ctx = _context(args.tenant)
    if ctx.tenant.erp == "wangdiantong":  # W5: one pass in the direction of stock.master
        from ..flows.erp_stock import nightly_erp_stock

        echo(json.dumps(nightly_erp_stock(ctx), ensure_ascii=False))
        return 0
    started = time.monotonic()

    def progress(line: str) -> None:
        echo(f"[{time.monotonic() - started:7.1f}s] {line}", flush=True)

    summary = stock_nightly.nightly_stock_push(ctx, run_id=args.run_id, fan_out=args.fan_out, progress=progress)
    echo(json.dumps(summary, ensure_ascii=False))
    return 0


def show_status(args) -> int:
    from ..flows import stock_nightly

    ctx = _context(args.tenant)
    run_id = args.run_id or stock_nightly.run_id_for(ctx)
    status = stock_nightly.run_status(ctx, run_id)
    if status is None:
        from . import NotFound

        raise NotFound(f"no stock run {run_id} for tenant {args.tenant}")
    if args.json:
        echo_json(status)
    else:
        echo(json.dumps(status, ensure_ascii=False))
    return 0


def run_pull(args) -> int:
    from ..flows import stock_sync

    ctx = _context(args.tenant)
    for wms_co_id, result in stock_sync.pull_jst_stock(ctx).items():
        echo(f"JST warehouse {wms_co_id}: {json.dumps(result, ensure_ascii=False)}")
    return 0


def show_sku(args) -> int:
    from ..flows import stock_nightly, stock_sync

    ctx = _context(args.tenant)
    sku, ent = args.sku, ctx.ent_id
    state: dict = {"sku": sku, "ent_id": ent, "stores": [], "warehouses": [], "waiting_flush_since": None,
                   "last_event_push": None, "last_nightly": {}}
    for record in ctx.records.list(ent, stock_sync.STORE_LEVEL, prefix=f"{sku}|"):
        state["stores"].append({"store": record.key.split("|", 1)[1], "qty": record.data["qty"],
                                "version": record.data["version"]})
    for mapping in ctx.tenant.warehouses:
        record = ctx.records.get(ent, stock_sync.WAREHOUSE_LEVEL, f"{mapping.pos_warehouse_code}|{sku}")
        if record:
            state["warehouses"].append({"pos_warehouse_code": mapping.pos_warehouse_code,
                                        "jst_wms_co_id": mapping.jst_wms_co_id, "qty": record.data["qty"],
                                        "version": record.data["version"], "pushed": bool(record.data.get("pushed"))})
    dirty = ctx.records.get(ent, stock_sync.DIRTY, sku)
    if dirty and not dirty.data.get("cleared"):
        state["waiting_flush_since"] = dirty.data["at"]
    marker = ctx.records.get(ent, stock_sync.DIRTY, stock_sync.MARKER)
    if marker is not None and sku in marker.members:  # a dirty SKU is a member of the flush marker
        state["waiting_flush_since"] = state["waiting_flush_since"] or marker.updated_at.isoformat()
    sent = stock_nightly.event_path_sent(ctx, sku).get(sku)
    if sent:
        state["last_event_push"] = {"qty": sent[1], "at": sent[0]}
    snapshot = stock_nightly.load_snapshot(ctx, "offline" if ctx.tenant.stock.master == "pos" else "erp")
    state["last_nightly"] = {k: v for k, v in sorted(snapshot.items()) if k == sku or k.endswith(f"|{sku}")}
    found = any((state["stores"], state["warehouses"], state["waiting_flush_since"], state["last_event_push"],
                 state["last_nightly"]))
    if not found:
        from . import NotFound

        raise NotFound(f"the bridge has no stock state for SKU {sku!r} of tenant {ent}")
    if args.json:
        echo_json(state)
        return 0
    for row in state["stores"]:
        echo(f"store {row['store']:10} qty {row['qty']:>6}  version {row['version']}")
    for row in state["warehouses"]:
        echo(f"店+ warehouse {row['pos_warehouse_code']} (JST {row['jst_wms_co_id']}) qty {row['qty']:>6}  "
             f"version {row['version']}  {'pushed' if row['pushed'] else 'waiting for P6'}")
    if state["waiting_flush_since"]:
        echo(f"waiting for the next flush to JST since {state['waiting_flush_since']}")
    if state["last_event_push"]:
        echo(f"last sent to JST offline warehouse by store events: qty {state['last_event_push']['qty']} "
             f"at {state['last_event_push']['at']}")
    for key, qty in state["last_nightly"].items():
        echo(f"last nightly run pushed {key}: qty {qty}")
    return 0
