"""JST client against the local JST sandbox: calls made vs the minimum, and rate-limit use.

Starts ``JstSandbox`` on 127.0.0.1 (a free port), seeds N sales outbounds and N inventory
rows per N, and drives the bridge's real ``JstApiAdapter`` / ``JstClient`` over HTTP.

1. Calls made vs the minimum possible (the sandbox's rate limit off, so only paging counts):
   - ``scan_sales_outbounds`` (ts cursor, 50 a page): minimum ceil(N / 50)
   - ``scan_inventory`` (ts cursor, 100 a page): minimum ceil(N / 100)
   - ``upload_inventory`` (inventoryv2, 500 items a call): minimum ceil(N / 500)
   The calls are counted by the sandbox (its call log), not by the client.
   A ts scan re-reads the record at its cursor on every page after the first (the filter is
   ``ts >= start_ts``), so it needs about ceil((N - 1) / (page - 1)) calls.

2. Rate-limit use, with the sandbox's limit on (``--per-second`` / ``--per-minute``, default
   50/s and 1000/min so a run takes seconds) and the client's limiter set to the same
   limit, then to a fraction of it (``--headroom``, default 0.5), for each way of counting
   (``--counting``, default both: ``sliding``, the tenant default, and ``fixed``). The workload is the
   outbound scan of the largest N plus its inventoryv2 upload. A call the sandbox refuses
   (199/200) is retried after the error's ``retry_after_seconds``, as the retry queue would.
   Printed per run: calls accepted, calls refused (199/200), elapsed, accepted calls per
   second vs the configured per-second limit, the busiest calendar second, the busiest
   sliding 1-second window, and the busiest 60 s vs the per-minute limit.

No assertions and no timing goals: it prints its figures.

Usage (from the repository root):

    .venv/bin/python bench/jst_client.py                        # N = 1000 and 5000, 50/s, 1000/min
    .venv/bin/python bench/jst_client.py --n 1000 5000 20000
    .venv/bin/python bench/jst_client.py --per-second 5 --per-minute 100 --n 200   # JST's defaults (slow)
    .venv/bin/python bench/jst_client.py --headroom 0.8
    .venv/bin/python bench/jst_client.py --counting sliding --margin-ms 20
"""

from __future__ import annotations

import argparse
import bisect
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "layers" / "shared", ROOT / "local"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import httpx  # noqa: E402

from o2o_bridge.connectors.jushuitan import models as m  # noqa: E402
from o2o_bridge.connectors.jushuitan.api import JstApiAdapter, Limits  # noqa: E402
from o2o_bridge.connectors.jushuitan.client import FORM, JstClient, JstCredentials  # noqa: E402
from o2o_bridge.connectors.jushuitan.errors import JstRateLimited  # noqa: E402
from o2o_bridge.connectors.jushuitan.rate_limit import (  # noqa: E402
    DEFAULT_SEND_ALLOWANCE_SECONDS,
    InMemoryRateLimiter,
    InMemorySlidingLogLimiter,
    windows_for,
)
from o2o_bridge.connectors.jushuitan.tokens import InMemoryTokenStore  # noqa: E402
from o2o_local.jst_sandbox import DEMO, JstSandbox  # noqa: E402

CREDS = DEMO["credentials"]
SHOP, WMS = 133242, 10001
OUTBOUNDS = "/open/orders/out/simple/query"
INVENTORY = "/open/inventory/query"
UPLOAD = "/open/jushuitan/inventoryv2/upload"


def limiter_for(counting: str, margin_ms: int, per_second: int, per_minute: int) -> Any:
    """The in-memory twin of what the factory builds for a tenant with this ``counting``."""
    windows = windows_for(per_second, per_minute)
    if counting == "fixed":
        return InMemoryRateLimiter(CREDS["app_key"], windows, max_wait_seconds=70.0)
    return InMemorySlidingLogLimiter(CREDS["app_key"], windows, margin_seconds=margin_ms / 1000, max_wait_seconds=70.0)


class Run:
    """One client: its adapter, the send time of every HTTP request, and 199/200 retries."""

    def __init__(self, jst: JstSandbox, per_second: int, per_minute: int, counting: str = "sliding",
                 margin_ms: int = 50) -> None:
        self.sent_at: list[float] = []
        self.refused: Counter[int] = Counter()
        self.waited = 0.0
        self.http = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0), headers={"Content-Type": FORM},
                                 event_hooks={"request": [lambda request: self.sent_at.append(time.time())]})
        self.client = JstClient(
            "bench", JstCredentials(base_url=jst.url, app_key=CREDS["app_key"], app_secret=CREDS["app_secret"],
                                    access_token=CREDS["access_token"], refresh_token=CREDS["refresh_token"]),
            http=self.http, token_store=InMemoryTokenStore(),
            limiter=limiter_for(counting, margin_ms, per_second, per_minute))
        self.api = JstApiAdapter(self.client, Limits())
        original: Callable[..., Any] = self.client.call

        def call(path: str, biz: Any = None, *, raw: bool = False) -> Any:
            while True:
                try:
                    return original(path, biz, raw=raw)
                except JstRateLimited as exc:
                    if exc.code not in (199, 200):
                        raise  # the client's own limiter gave up: not expected with max_wait 70 s
                    self.refused[exc.code] += 1
                    wait = exc.retry_after_seconds or 1.0
                    self.waited += wait
                    time.sleep(wait)

        self.client.call = call  # type: ignore[method-assign]

    def close(self) -> None:
        self.http.close()


def seed(jst: JstSandbox, n: int) -> None:
    jst.reset()
    jst.seed_demo()
    skus = [f"BENCH-{i:06d}" for i in range(n)]
    jst.seed(skus=[{"sku_id": s, "i_id": "BENCH"} for s in skus],
             inventory=[{"wms_co_id": WMS, "sku_id": s, "qty": i % 50} for i, s in enumerate(skus)])
    # The demo tenant already has rows in this warehouse: remove them so the scan reads exactly N.
    with jst.state.lock:
        for key in [k for k in jst.state.inventory if k[0] == WMS and not k[1].startswith("BENCH-")]:
            del jst.state.inventory[key]
    for i in range(n):
        jst.add_outbound(so_id=f"B{i:07d}", shop_id=SHOP, wms_co_id=WMS,
                         items=[{"sku_id": skus[i], "qty": 1}])
    jst.clear_calls()


def upload_items(n: int) -> list[m.StockItem]:
    return [m.StockItem(sku_id=f"BENCH-{i:06d}", qty=(i * 7) % 100) for i in range(n)]


def counted(jst: JstSandbox, path: str) -> tuple[int, int]:
    calls = jst.calls(path)
    return len(calls), sum(1 for c in calls if c["code"] == 0)


def efficiency(jst: JstSandbox, n: int) -> list[tuple[str, int, int, int, int, float]]:
    """(what, records, calls made, calls with code 0, minimum, seconds) for each operation."""
    seed(jst, n)
    jst.rate_limit.configure(enabled=False)
    run = Run(jst, per_second=100_000, per_minute=10_000_000)
    rows = []
    try:
        for label, path, page, op in (
            ("ts scan: sales outbounds", OUTBOUNDS, 50, lambda: run.api.scan_sales_outbounds(start_ts=0, wms_co_id=WMS)),
            ("ts scan: inventory", INVENTORY, 100, lambda: run.api.scan_inventory(start_ts=0, wms_co_id=WMS)),
            ("inventoryv2 upload", UPLOAD, 500,
             lambda: run.api.upload_inventory(wms_co_id=WMS, so_id_prefix=f"BENCH-{n}", items=upload_items(n))),
        ):
            jst.clear_calls()
            started = time.perf_counter()
            result = op()
            elapsed = time.perf_counter() - started
            got = len(result.records) if hasattr(result, "records") else sum(
                len(b["items"]) for b in (c["biz"] for c in jst.calls(path)))
            made, good = counted(jst, path)
            rows.append((label, got, made, good, math.ceil(n / page), elapsed))
    finally:
        run.close()
    return rows


def busiest(times: list[float], span: float) -> int:
    """The most requests sent within any ``span`` seconds (sliding)."""
    times = sorted(times)
    return max((bisect.bisect_right(times, t + span - 1e-9) - i for i, t in enumerate(times)), default=0)


def busiest_calendar_second(times: list[float]) -> int:
    return max(Counter(int(t) for t in times).values(), default=0)


def rate_use(jst: JstSandbox, n: int, per_second: int, per_minute: int, client_per_second: int,
             client_per_minute: int, counting: str, margin_ms: int) -> dict[str, Any]:
    seed(jst, n)
    jst.rate_limit.configure(per_second=per_second, per_minute=per_minute, enabled=True)
    run = Run(jst, per_second=client_per_second, per_minute=client_per_minute, counting=counting, margin_ms=margin_ms)
    try:
        started = time.perf_counter()
        run.api.scan_sales_outbounds(start_ts=0, wms_co_id=WMS)
        run.api.upload_inventory(wms_co_id=WMS, so_id_prefix=f"RATE-{client_per_second}", items=upload_items(n))
        elapsed = time.perf_counter() - started
    finally:
        run.close()
        jst.rate_limit.configure(enabled=False)
    calls = [c for c in jst.calls() if c["path"] in (OUTBOUNDS, UPLOAD)]
    accepted = sum(1 for c in calls if c["code"] == 0)
    return {
        "client": f"{counting} {client_per_second}/s {client_per_minute}/min",
        "accepted": accepted, "refused_199": run.refused[199], "refused_200": run.refused[200],
        "waited": run.waited, "elapsed": elapsed, "rate": accepted / elapsed if elapsed else 0.0,
        "peak_calendar": busiest_calendar_second(run.sent_at), "peak_sliding": busiest(run.sent_at, 1.0),
        "peak_minute": busiest(run.sent_at, 60.0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 5000], help="record counts (default 1000 5000)")
    parser.add_argument("--per-second", type=int, default=50, help="sandbox rate limit per second (default 50)")
    parser.add_argument("--per-minute", type=int, default=1000, help="sandbox rate limit per minute (default 1000)")
    parser.add_argument("--headroom", type=float, default=0.5,
                        help="second rate run: the client's limiter at this fraction of the sandbox's (default 0.5)")
    parser.add_argument("--counting", choices=("sliding", "fixed", "both"), default="both",
                        help="the client limiter's counting in the rate runs (default both)")
    parser.add_argument("--margin-ms", type=int, default=50, help="sliding counting's margin (default 50)")
    args = parser.parse_args(argv)
    countings = ("sliding", "fixed") if args.counting == "both" else (args.counting,)

    with JstSandbox("127.0.0.1", port=0) as jst:
        print(f"JST sandbox at {jst.url}\n")
        print("1. Calls made vs the minimum (sandbox rate limit off)")
        header = f"{'N':>7}  {'operation':<26} {'records':>8} {'calls':>6} {'ok':>5} {'minimum':>8} {'ratio':>6} {'seconds':>8}"
        print(header)
        print("-" * len(header))
        for n in args.n:
            for label, got, made, good, minimum, elapsed in efficiency(jst, n):
                print(f"{n:>7}  {label:<26} {got:>8} {made:>6} {good:>5} {minimum:>8} "
                      f"{made / minimum if minimum else 0:>6.2f} {elapsed:>8.2f}")
        print("   (a ts scan re-reads its cursor record on each page after the first: "
              "about ceil((N-1)/(page-1)) calls)\n")

        n = max(args.n)
        print(f"2. Rate-limit use: sandbox limit {args.per_second}/s and {args.per_minute}/min; workload = "
              f"outbound ts scan + inventoryv2 upload of N = {n}")
        runs = [(args.per_second, args.per_minute)]
        low = max(1, int(args.per_second * args.headroom)), max(1, int(args.per_minute * args.headroom))
        if low != runs[0]:
            runs.append(low)
        header = (f"{'client limiter':<26} {'accepted':>8} {'199':>5} {'200':>5} {'waited s':>8} {'elapsed s':>9} "
                  f"{'calls/s':>8} {'limit/s':>7} {'use':>6} {'peak cal. s':>11} {'peak 1 s':>8} "
                  f"{'peak 60 s':>9} {'limit/min':>9}")
        print(header)
        print("-" * len(header))
        for counting, (client_second, client_minute) in ((c, r) for c in countings for r in runs):
            r = rate_use(jst, n, args.per_second, args.per_minute, client_second, client_minute, counting,
                         args.margin_ms)
            print(f"{r['client']:<26} {r['accepted']:>8} {r['refused_199']:>5} {r['refused_200']:>5} "
                  f"{r['waited']:>8.1f} {r['elapsed']:>9.2f} {r['rate']:>8.1f} {args.per_second:>7} "
                  f"{r['rate'] / args.per_second:>6.0%} {r['peak_calendar']:>11} {r['peak_sliding']:>8} "
                  f"{r['peak_minute']:>9} {args.per_minute:>9}")
        print("   calls/s = calls accepted / elapsed; use = calls/s over the sandbox's per-second limit;\n"
              "   peak cal. s = most requests in one calendar second (what fixed counting counts);\n"
              "   peak 1 s = most requests in any sliding second (what the sandbox counts, refusing with 199);\n"
              "   sliding counting counts this process's calls from their answers (each until 1 s after it);\n"
              f"   another container's grants it widens by a {args.margin_ms} ms margin and a "
              f"{DEFAULT_SEND_ALLOWANCE_SECONDS * 1000:.0f} ms send allowance: "
              "at most limit / (1 s + margin + allowance) per second across containers.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
