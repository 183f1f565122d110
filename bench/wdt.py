"""旺店通 (W1 store sales, W5 the 02:10 stock run) at size, counted at the sandboxes.

The 旺店通 and 店+ sandboxes run in child processes (separate systems in real life); this
process runs the real flows (flows/store_sales.py, flows/erp_stock.py) over the real 旺店通
port, client (signed, paced by the sliding-log limiter at the tenant's limit, 5/s and
300/min by default) and the real 店+ client. Flow state is in memory. The 旺店通 sandbox
enforces the same limit and would refuse a call over it.

Printed:
- W1: ``--sales`` queued sales (2 stores, cash and card, 1-3 lines) booked by one
  push_wdt_sales run: trade_push calls counted by the sandbox vs the minimum ceil(sales / 50),
  trades booked, wall time vs the rate bound (the earliest the last call may start under
  both limits) and per call.
- W5 (stock.master erp): ``--skus`` x ``--stores`` store-warehouse rows, the first night
  (everything is new), then ``--changed`` of them changed the next day: stock_query calls
  counted by the sandbox vs the minimum (per store ceil(changed / 100)), P6 calls counted by the 店+
  sandbox vs the minimum (per store ceil(changed / 500)), wall vs the rate bound.
- W5 (stock.master pos): the same stores' changed rows counted into 旺店通: stock_sync_by_pd
  calls vs the minimum (per store ceil(changed / 1000)), wall vs the bound.
Goals: calls = minimum; wall <= 1.2 x bound + the work the bound does not count. No assertions.

    .venv/bin/python bench/wdt.py                 # 1 000 sales; 5 000 SKUs x 4 stores, 10 % changed
    .venv/bin/python bench/wdt.py --small         # 200 sales; 1 000 x 2 (seconds)
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import random
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "layers" / "shared", ROOT / "local", ROOT / "tests", ROOT / "tools"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

ENT_ID = "10030"


def serve(which: str, conn: Any, per_second: int, per_minute: int) -> None:
    if which == "wdt":
        from o2o_local.wdt_sandbox import WdtSandbox

        sandbox = WdtSandbox()
        sandbox.seed_demo()
        sandbox.rate_limit.configure(per_second=per_second, per_minute=per_minute, enabled=True)
    else:
        from o2o_local.pos_sandbox import PosSandbox

        sandbox = PosSandbox()
    offset = [0.0]
    if which == "pos":  # its clock, movable like the 旺店通 sandbox's (a day passes in the bench)
        sandbox.state.clock = lambda: datetime.now(timezone.utc) + timedelta(seconds=offset[0])
    sandbox.start()
    conn.send(sandbox.url)
    while True:
        message = conn.recv()
        if message == "stop":
            break
        offset[0] += message[1]  # ("advance", seconds)
        conn.send("ok")
    sandbox.stop()


class Child:
    def __init__(self, which: str, per_second: int, per_minute: int) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=serve, args=(which, child, per_second, per_minute), daemon=True)
        self.process.start()
        self.url = self.conn.recv()

    def admin(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read() or b"null")

    def advance_clock(self, seconds: float) -> None:
        self.conn.send(("advance", seconds))
        self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(10)


def rate_bound(calls: int, per_second: int, per_minute: int) -> float:
    """The earliest the last of ``calls`` may start, the first at 0, under both sliding limits."""
    if calls <= 1:
        return 0.0
    last = calls - 1
    return float(max(last // per_second, (last // per_minute) * 60))


_SHARED: dict[str, Any] = {}


def context(wdt_url: str, pos_url: str, per_second: int, per_minute: int, master: str, stores: list[str] | None = None):
    import httpx
    import yaml

    from fakes import fake_context
    from o2o_bridge.connectors.pacing import windows_for
    from o2o_bridge.connectors.store import PosClient, PosCredentials, StoreSystemApi
    from o2o_bridge.connectors.wangdiantong.api import WdtApi
    from o2o_bridge.connectors.wangdiantong.client import WdtClient, WdtCredentials
    from o2o_bridge.connectors.wangdiantong.rate_limit import InMemorySlidingLogLimiter
    from o2o_bridge.connectors.wangdiantong.erp import WdtErp
    from o2o_bridge.connectors.wangdiantong.factory import limits_of
    from o2o_bridge.wiring import NotThisErp
    from o2o_bridge.tenant import parse_tenant
    from o2o_local.pos_sandbox.demo import WDT_DEMO_API_KEY

    doc = yaml.safe_load((ROOT / "local" / "tenants" / "wdt-demo.yaml").read_text(encoding="utf-8"))
    doc["wangdiantong"]["base_url"] = f"{wdt_url}/openapi2"
    doc["wangdiantong"]["rate_limit"] = {"per_second": per_second, "per_minute": per_minute}
    doc["stock"]["master"] = master
    if stores:
        doc["stores"] = [{"code": code, "name": code} for code in stores]
    tenant = parse_tenant(doc)
    section = tenant.wangdiantong
    # One limiter for the account, as every Lambda shares the DynamoDB log in production.
    if "limiter" not in _SHARED:
        _SHARED["limiter"] = InMemorySlidingLogLimiter(f"wdt:{section.sid}", windows_for(per_second, per_minute))
    client = WdtClient(WdtCredentials(section.base_url, section.sid, section.appkey,
                                      section.appsecret.get_secret_value()), limiter=_SHARED["limiter"])
    store = StoreSystemApi(PosClient(PosCredentials(f"{pos_url}/api", ENT_ID, WDT_DEMO_API_KEY),
                                     http=httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))))
    ctx = fake_context(tenant, erp=WdtErp(WdtApi(client, limits_of(section)), tenant), store=store,
                       warehouse=NotThisErp(tenant, "warehouse"))
    ctx.erp.now = lambda: ctx.now()  # the adapter reads "changed since" up to the run's clock
    return ctx


def calls(sandbox: Child, api: str) -> int:
    return len(sandbox.admin("GET", f"/__admin__/calls?api={api}"))


def bench_w1(args, wdt: Child, pos: Child) -> None:
    from o2o_bridge.flows import store_sales
    from o2o_bridge.ports.retail import SaleLine, StoreSale
    from o2o_bridge.shanghai_time import SHANGHAI

    ctx = context(wdt.url, pos.url, args.per_second, args.per_minute, "erp")
    rng = random.Random(args.seed)
    skus = (("PIL-STD", "199"), ("PIL-LOW", "189"), ("BLK-150", "259"))
    start = datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)
    for n in range(args.sales):
        lines = []
        for line_no, (sku, price) in enumerate(rng.sample(skus, rng.randint(1, 3)), start=1):
            qty = rng.randint(1, 2)
            lines.append(SaleLine(str(line_no), sku, qty, Decimal(price), Decimal(price) * qty))
        store_sales.queue_sale(ctx, StoreSale(f"B{n:06d}", "S101" if n % 2 else "S102",
                                              start + timedelta(seconds=7 * n), rng.choice(["cash", "card", "wechat"]),
                                              tuple(lines), sum(l.amount for l in lines)))
    wdt.admin("POST", "/__admin__/calls/clear", {})
    began = time.perf_counter()
    summary = store_sales.push_store_sales(ctx, per_run=args.sales)
    wall = time.perf_counter() - began
    made = calls(wdt, "trade_push.php")
    minimum = math.ceil(args.sales / 50)
    bound = rate_bound(made, args.per_second, args.per_minute)
    booked = len(wdt.admin("GET", "/__admin__/state/trades"))
    print(f"W1 push_wdt_sales, {args.sales} sales:")
    print(f"  trade_push calls (counted by the 旺店通 sandbox): {made}   minimum ceil({args.sales}/50) = {minimum}")
    print(f"  trades booked at the sandbox: {booked}   summary: {summary}")
    print(f"  wall {wall:.2f} s   rate bound {bound:.2f} s   ratio {wall / bound if bound else float('nan'):.2f}   "
          f"per call {wall / max(made, 1) * 1000:.0f} ms")


def bench_w5(args, wdt: Child, pos: Child) -> None:
    from o2o_bridge.flows import erp_stock
    from o2o_local.pos_sandbox.demo import wdt_demo_merchant

    stores = [f"S{101 + i}" for i in range(args.stores)]
    pos.admin("POST", "/__admin__/reset", {})
    merchant = wdt_demo_merchant()
    merchant["stores"] = [{"code": s, "name": s} for s in stores]
    pos.admin("POST", "/__admin__/seed", {"merchants": [merchant]})
    specs = [f"SKU{n:06d}" for n in range(args.skus)]
    wdt.admin("POST", "/__admin__/seed", {
        "warehouses": [{"warehouse_no": s, "name": s} for s in stores],
        "goods": [{"goods_no": f"G{n // 10:05d}", "goods_name": "商品",
                   "spec_list": [{"spec_no": s, "retail_price": 10} for s in specs[n:n + 10]]}
                  for n in range(0, args.skus, 10)],
        "stock": [{"warehouse_no": w, "spec_no": s, "stock_num": 10} for w in stores for s in specs]})
    ctx = context(wdt.url, pos.url, args.per_second, args.per_minute, "erp", stores)
    # The first night runs an hour after the data was written; the next one a day later.
    first_night = datetime.now(timezone.utc) + timedelta(hours=1)
    ctx.now = lambda: first_night
    began = time.perf_counter()
    first = erp_stock.nightly_erp_stock(ctx)
    print(f"W5 stock.master erp, {args.skus} SKUs x {args.stores} stores:")
    print(f"  first night (everything new): {read_rows(first)} rows in {time.perf_counter() - began:.1f} s")
    wdt.admin("POST", "/__admin__/clock", {"advance_seconds": 86_400})
    pos.advance_clock(86_400)
    ctx.erp.api.client.clock_offset = 86_400  # what the client would learn from one refused call
    rng = random.Random(args.seed)
    changed = rng.sample([(w, s) for w in stores for s in specs], int(args.skus * args.stores * args.changed))
    per_store: dict[str, int] = {}
    for w, _ in changed:
        per_store[w] = per_store.get(w, 0) + 1
    wdt.admin("POST", "/__admin__/seed", {"stock": [{"warehouse_no": w, "spec_no": s, "stock_num": 7}
                                                    for w, s in changed]})
    wdt.admin("POST", "/__admin__/calls/clear", {})
    p6_before = puts(pos)
    second_night = first_night + timedelta(days=1)
    ctx.now = lambda: second_night
    began = time.perf_counter()
    second = erp_stock.nightly_erp_stock(ctx)
    wall = time.perf_counter() - began
    queries = calls(wdt, "stock_query.php")
    p6 = puts(pos) - p6_before
    p6_min = sum(math.ceil(n / 500) for n in per_store.values())
    bound = rate_bound(queries, args.per_second, args.per_minute)
    print(f"  next night, {len(changed)} rows changed in 旺店通: {read_rows(second)} rows read and set")
    # stock_query reads one warehouse a call: each store's changed rows fill its own pages.
    query_min = sum(max(1, math.ceil(n / 100)) for n in per_store.values())
    print(f"  stock_query calls (counted by the 旺店通 sandbox): {queries}   minimum, per store ceil(changed/100): "
          f"{query_min} ({', '.join(f'{w} {n}' for w, n in sorted(per_store.items()))} rows)")
    print(f"  P6 calls (counted by the 店+ sandbox): {p6}   minimum {p6_min}")
    print(f"  wall {wall:.2f} s   rate bound of the 旺店通 calls {bound:.2f} s   ratio "
          f"{wall / bound if bound else float('nan'):.2f}")

    # stock.master pos, a day later: the same rows change at the stores and are counted into 旺店通.
    pos_ctx = context(wdt.url, pos.url, args.per_second, args.per_minute, "pos", stores)
    pos_ctx.cursors = ctx.cursors  # the same tenant: the night before is its last run
    pos_ctx.erp.api.client.clock_offset = 2 * 86_400
    wdt.admin("POST", "/__admin__/clock", {"advance_seconds": 86_400})
    pos.advance_clock(86_400)
    rows = [{"store_code": w, "sku_id": s, "qty": 3} for w, s in changed]
    pos.admin("POST", "/__admin__/seed", {"merchants": [{"ent_id": ENT_ID, "store_stock": rows}]})
    wdt.admin("POST", "/__admin__/calls/clear", {})
    third_night = second_night + timedelta(days=1)
    pos_ctx.now = lambda: third_night
    began = time.perf_counter()
    third = erp_stock.nightly_erp_stock(pos_ctx)
    wall = time.perf_counter() - began
    counts = calls(wdt, "stock_sync_by_pd.php")
    checks = calls(wdt, "stock_pd_order_query.php")
    minimum = sum(math.ceil(n / 1000) for n in per_store.values())
    bound = rate_bound(counts + checks, args.per_second, args.per_minute)
    print(f"W5 stock.master pos, the next night, {len(changed)} rows changed at the stores: {third['skus']} rows read")
    print(f"  stock_sync_by_pd calls (counted by the 旺店通 sandbox): {counts}   minimum {minimum}")
    print(f"  stock_pd_order_query calls (the count's key looked up first, so a replay books nothing): {checks}   "
          f"minimum {len(per_store)}")
    print(f"  wall {wall:.2f} s   rate bound {bound:.2f} s")


def read_rows(summary: dict) -> int:
    """Rows the nightly read took from 旺店通 (its summary counts them per store warehouse)."""
    return sum(part["read"] for part in summary["read"].values() if isinstance(part, dict))


def puts(pos: Child) -> int:
    return len([r for r in pos.admin("GET", "/__admin__/state")["data"]["requests"] if r.get("method") == "PUT"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sales", type=int, default=1000)
    parser.add_argument("--skus", type=int, default=5000)
    parser.add_argument("--stores", type=int, default=4)
    parser.add_argument("--changed", type=float, default=0.10)
    parser.add_argument("--per-second", type=int, default=5)
    parser.add_argument("--per-minute", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args(argv)
    if args.small:
        args.sales, args.skus, args.stores = 200, 1000, 2
    wdt = Child("wdt", args.per_second, args.per_minute)
    pos = Child("pos", args.per_second, args.per_minute)
    try:
        bench_w1(args, wdt, pos)
        bench_w5(args, wdt, pos)
    finally:
        wdt.stop()
        pos.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
