"""`o2o products backfill --since DATE [--tenant ENT_ID]`, `o2o products sync [--tenant ENT_ID]` and
`o2o products failed [--tenant ENT_ID]`: the product master (S7) from JST to 店+, by hand."""

from __future__ import annotations

from .. import wiring  # noqa: E402 - the composition root builds each tenant's context

import argparse
import json
from datetime import datetime, time, timezone


from ..shanghai_time import SHANGHAI
from ._output import add_json_flag, echo, echo_json


def register(commands) -> None:
    products = commands.add_parser("products", help="the product master (S7): backfill or sync now")
    actions = products.add_subparsers(dest="action", required=True, metavar="ACTION")
    backfill = actions.add_parser("backfill", help="send every product JST modified since DATE to 店+, window by window")
    backfill.add_argument("--since", required=True, type=_since, metavar="DATE",
                          help="YYYY-MM-DD (00:00 Asia/Shanghai) or an ISO 8601 time with offset")
    backfill.add_argument("--tenant", metavar="ENT_ID", help="one tenant's ent_id (default: every tenant)")
    backfill.set_defaults(run=run_backfill)
    sync = actions.add_parser("sync", help="run the hourly sync_products now")
    sync.add_argument("--tenant", metavar="ENT_ID", help="one tenant's ent_id (default: every tenant)")
    sync.set_defaults(run=run_sync)
    failed = actions.add_parser("failed", help="products set aside and not sent since, with their error (o2o dlq replay sends them again)")
    failed.add_argument("--tenant", metavar="ENT_ID", help="one tenant's ent_id (default: every tenant)")
    add_json_flag(failed)
    failed.set_defaults(run=list_failed)


def _since(text: str) -> datetime:
    try:
        if len(text) == 10:
            moment = datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time(0), SHANGHAI)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (YYYY-MM-DD or ISO 8601)") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)
    if moment > datetime.now(timezone.utc):
        raise argparse.ArgumentTypeError(f"{text!r} is in the future")
    return moment


def selected_tenants(args):
    """``--tenant``'s tenant, or every registered one."""
    from .. import runtime
    from .environment import use_bridge_environment

    use_bridge_environment()
    store = runtime.state_store()
    ids = [args.tenant] if args.tenant else store.list_ids()
    tenants = []
    for ent_id in ids:
        tenant = store.get(ent_id)
        if tenant is None:
            from . import NotFound

            raise NotFound(f"no tenant {ent_id!r} is stored (o2o tenant put FILE first)")
        tenants.append(tenant)
    return tenants


def run_backfill(args) -> int:
    from ..flows.products import backfill, progress_line

    failed = 0
    for tenant in selected_tenants(args):
        if tenant.erp == "wangdiantong":
            failed += _backfill_from_erp(tenant, args.since)
            continue
        echo(f"tenant {tenant.ent_id}: products modified since {args.since.isoformat()}", flush=True)
        summary = backfill(wiring.context_for(tenant), args.since,
                           progress=lambda step: echo(f"  {progress_line(step)}", flush=True))
        failed += summary["failed"]
        echo(f"tenant {tenant.ent_id}: {summary['windows']} window(s), {summary['sent']} sent, "
              f"{summary['failed']} failed (set aside: o2o products failed, o2o dlq replay)"
              + ("; stopped early, run again to finish" if summary["stopped_early"] else ""), flush=True)
    return 1 if failed else 0


def _backfill_from_erp(tenant, since) -> int:
    """W4: the goods the ERP created since ``since``, a month a window (the guide's button)."""
    from ..flows import erp_products

    echo(f"tenant {tenant.ent_id}: goods 旺店通 created since {since.isoformat()} (one-month windows)", flush=True)
    summary = erp_products.backfill(wiring.context_for(tenant), since, progress=lambda step: echo(
        f"  window {step['window']}: {step['begin'][:10]} .. {step['end'][:10]}  {step['new']} new SKU(s), "
        f"{step['created']} created at the store, {step['parked']} batch(es) parked", flush=True))
    echo(f"tenant {tenant.ent_id}: {summary['windows']} window(s), {summary['created']} created, "
          f"{summary['parked']} batch(es) parked (o2o dlq list)", flush=True)
    return summary["parked"]


def run_sync(args) -> int:
    from ..flows.products import sync_products

    failed = 0
    for tenant in selected_tenants(args):
        if tenant.erp == "wangdiantong":
            from ..flows.erp_products import sync_erp_products

            summary = sync_erp_products(wiring.context_for(tenant))
            failed += summary["parked"]
            echo(f"tenant {tenant.ent_id}: {json.dumps(summary, ensure_ascii=False, default=str)}", flush=True)
            continue
        summary = sync_products(wiring.context_for(tenant))
        failed += summary["failed"]
        echo(f"tenant {tenant.ent_id}: {json.dumps(summary, ensure_ascii=False, default=str)}", flush=True)
    return 1 if failed else 0


def list_failed(args) -> int:
    """The products set aside and not sent since (their letters wait in the DLQ: `o2o dlq replay`
    sends them again after the fix)."""
    from ..flows.products import set_aside_products

    found = [{"ent_id": tenant.ent_id, **item} for tenant in selected_tenants(args)
             for item in set_aside_products(wiring.context_for(tenant))]
    if args.json:
        echo_json(found)
        return 0
    for item in found:
        echo(f"{item['sku_id']}  tenant={item['ent_id']} since={str(item.get('since') or '-')[:19]}\n"
             f"    error: {item['error']}")
    if not found:
        echo("no product waiting to be sent again")
    return 0
