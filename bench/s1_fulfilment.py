"""S1 at size: N online orders polled from the JST sandbox, routed to stores and created at the
店+ sandbox, then confirmed shipped in JST, through the real flow (flows/store_fulfilment.py)
and the real HTTP adapters (signed JST calls paced at the tenant's limit). Flow state is in
memory (tests/fakes.py); its writes are counted, as DynamoDB would see them.

Printed:
- the poll: JST calls (scan pages) vs the minimum floor(N / 50) + 1 (the full pages, then the
  short or empty one that ends the scan), 店+ calls per order (P7 per candidate store + P1), wall time, orders dispatched per second, state writes per order;
  with ``--pages-per-run K`` the poll runs out of time after K pages and is run again until the
  backlog is through: JST scan calls over all runs vs one uninterrupted scan, and vs what a scan
  fetching every remaining page on each run would have made;
- the confirmations: JST wms/sent/upload calls vs N (one per outbound), wall time vs the rate
  bound of the JST limit (at 100/min a tenant confirms at most 100 outbounds a minute);
- refusals: a call JST refused as rate limited (199 / 200) or another transient failure is not
  a crash: the bench waits the error's ``retry_after_seconds`` and tries the step again, as the
  retry worker would, and prints how many refusals it met and how long it waited; steps the
  poll queued for retry are run the same way before the confirmations;
- CPU seconds and peak memory of this process. No assertions.

Usage (from the repository root):

    .venv/bin/python bench/s1_fulfilment.py              # 300 orders, 3 stores, JST limit 5/s 100/min
    .venv/bin/python bench/s1_fulfilment.py --orders 1000 --per-minute 1000
    .venv/bin/python bench/s1_fulfilment.py --orders 1000 --per-minute 1000 --pages-per-run 5
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "layers" / "shared", ROOT / "local", ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

ENT_ID = "10010"
SCAN = "/open/orders/out/simple/query"
SENT = "/open/orders/wms/sent/upload"
# A step refused this many times in a row is a real problem, not a busy machine: let it raise.
MAX_TRIES = 30
DEFAULT_WAIT_SECONDS = 1.0


class Patience:
    """Runs a step again after a transient refusal (JST 199/200, a timeout, an effect in
    progress), waiting what the error asks, and counts what it met."""

    def __init__(self) -> None:
        self.refusals: Counter[str] = Counter()
        self.waited = 0.0

    def run(self, step, *args):
        from o2o_bridge.errors import TransientError

        for tries in range(1, MAX_TRIES + 1):
            try:
                return step(*args)
            except TransientError as exc:
                code = getattr(exc, "code", None)
                self.refusals[f"JST {code}" if code is not None else type(exc).__name__] += 1
                if tries == MAX_TRIES:
                    raise
                wait = exc.retry_after_seconds if exc.retry_after_seconds is not None else DEFAULT_WAIT_SECONDS
                self.waited += wait
                time.sleep(wait)

    def summary(self) -> str:
        if not self.refusals:
            return "no refusals"
        kinds = ", ".join(f"{kind} ×{count}" for kind, count in sorted(self.refusals.items()))
        return f"{sum(self.refusals.values())} refusals ({kinds}), waited {self.waited:.1f} s"


def accepted(calls: list[dict]) -> list[dict]:
    """The calls JST did not refuse (the sandbox logs the refused ones too)."""
    return [c for c in calls if c.get("code") == 0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--per-second", type=int, default=5)
    parser.add_argument("--per-minute", type=int, default=100)
    parser.add_argument("--pages-per-run", type=int, default=0,
                        help="time for this many scan pages per poll run (0: one run with time for all)")
    args = parser.parse_args(argv)

    import yaml

    from fakes import FakeCommandQueue, FakeCursors, FakeLinks, FakeMetrics, FakeRecords, FakeTenants, FakeTimeline
    from o2o_bridge.connectors.jushuitan.api import JstApiAdapter
    from o2o_bridge.connectors.jushuitan.client import JstClient
    from o2o_bridge.connectors.jushuitan.factory import credentials_of as jst_credentials
    from o2o_bridge.connectors.jushuitan.rate_limit import InMemorySlidingLogLimiter, windows_for
    from o2o_bridge.connectors.jushuitan.tokens import InMemoryTokenStore
    from o2o_bridge.connectors.store.api import StoreSystemApi
    from o2o_bridge.connectors.store.client import PosClient
    from o2o_bridge.connectors.store.factory import credentials_of as pos_credentials

    from o2o_bridge.flows import store_fulfilment as s1
    from o2o_bridge.flows.kit import FlowContext
    from o2o_bridge import wiring
    from o2o_bridge.retry import RetryRunner
    from o2o_bridge.tenant import parse_tenant
    from o2o_local.jst_sandbox import JstSandbox
    from o2o_local.pos_sandbox import PosSandbox

    class CountingRecords(FakeRecords):
        writes = 0

        def put(self, *a, **k):
            CountingRecords.writes += 1
            return super().put(*a, **k)

    jst_box, pos_box = JstSandbox("127.0.0.1", 0), PosSandbox("127.0.0.1", 0)
    jst_box.start()
    pos_box.start()
    try:
        jst_box.seed_demo()
        jst_box.rate_limit.configure(per_second=args.per_second, per_minute=args.per_minute, enabled=True)
        pos_box.seed_demo()
        pos_box.set_store_stock(ENT_ID, "S001", [{"sku_id": "SKU-RED-M", "qty": 10 ** 6}], emit=False)
        pos_box.set_store_stock(ENT_ID, "S002", [{"sku_id": "SKU-RED-M", "qty": 10 ** 6}], emit=False)
        for n in range(args.orders):
            jst_box.add_outbound(io_id=900000 + n, so_id=f"BENCH-{n}", wms_co_id=10001, shop_id=133242,
                                 receiver_name="王", receiver_mobile="138", receiver_state="上海市",
                                 receiver_city="上海市", receiver_district="静安区", receiver_address="1号",
                                 items=[{"sku_id": "SKU-RED-M", "qty": 1}])

        doc = yaml.safe_load((ROOT / "local" / "tenants" / "demo.yaml").read_text(encoding="utf-8"))
        doc["jushuitan"]["base_url"], doc["pos"]["base_url"] = jst_box.url, pos_box.base_url
        doc["jushuitan"]["rate_limit"] = {"per_second": args.per_second, "per_minute": args.per_minute}
        for store in doc["stores"]:
            store["regions"], store["daily_capacity"] = [], None
        tenant = parse_tenant(doc)
        client = JstClient(ENT_ID, jst_credentials(tenant, None), token_store=InMemoryTokenStore())
        client.limiter = InMemorySlidingLogLimiter(tenant.jushuitan.app_key,
                                                   windows_for(args.per_second, args.per_minute),
                                                   margin_seconds=0.05, max_wait_seconds=70.0)
        from o2o_bridge.connectors.jushuitan.erp import JstErp
        from o2o_bridge.connectors.jushuitan.warehouse import JstWarehouse

        jst = JstApiAdapter(client)
        ctx = FlowContext(tenant=tenant, warehouse=JstWarehouse(jst, tenant), erp=JstErp(jst, tenant),
                          store=StoreSystemApi(PosClient(
            pos_credentials(tenant, None))), links=FakeLinks(), cursors=FakeCursors(), records=CountingRecords(),
            timeline=FakeTimeline(), queue=FakeCommandQueue(), metric=FakeMetrics())

        print(f"s1_fulfilment: {args.orders} outbounds, stores S001/S002, JST limit {args.per_second}/s "
              f"{args.per_minute}/min")
        cpu0, started = time.process_time(), time.monotonic()
        poll_patience, confirm_patience = Patience(), Patience()
        runs = []
        while True:  # the schedule runs the poll again until the backlog is through
            if args.pages_per_run:
                budget = iter([1e6] * args.pages_per_run)  # then the Lambda is nearly out of time
                ctx.time_left = lambda budget=budget: next(budget, 0.0)
            runs.append(poll_patience.run(s1.poll_jst_outbound, ctx))
            if not runs[-1]["stopped_early"]:
                break
        total_pages = sum(r["pages"] for r in runs)
        # A scan fetching every page before handling any re-fetches, each run, all that is left.
        whole_scan_calls = sum(total_pages - sum(r["pages"] for r in runs[:i]) for i in range(len(runs)))
        summary = {"dispatched": sum(r["dispatched"] for r in runs)}
        queued_by_poll = len(ctx.queue.queued)
        # What the poll queued for retry (a step that met a transient failure) runs as the retry
        # worker would run it, after a wait; a retry failing again is queued again.
        runner = RetryRunner(wiring.command_registry(lambda _tenant: ctx), ctx.queue, FakeTenants(tenant), ctx.timeline, max_attempts=10,
                             base_delay_seconds=0, no_delay=True)
        for _ in range(MAX_TRIES):
            if not ctx.queue.queued:
                break
            time.sleep(DEFAULT_WAIT_SECONDS)
            poll_patience.waited += DEFAULT_WAIT_SECONDS
            batch, ctx.queue.queued = ctx.queue.queued, []
            for envelope, _delay in batch:
                runner.run(envelope)
        poll_seconds = time.monotonic() - started
        pos_calls = len(pos_box.state.requests)
        scan_calls = len(accepted(jst_box.calls(SCAN)))
        if args.pages_per_run:
            print(f"poll in {len(runs)} runs of at most {args.pages_per_run} pages: JST scan calls {scan_calls} "
                  f"over all runs (an uninterrupted scan: {total_pages}); fetching every page each run, as before "
                  f"the scan was incremental, would have taken {whole_scan_calls}")
        print(f"poll: dispatched {summary['dispatched']} in {poll_seconds:.1f} s "
              f"({summary['dispatched'] / max(poll_seconds, 1e-9):.0f}/s); JST scan calls {scan_calls} "
              f"(minimum {args.orders // 50 + 1}); 店+ calls {pos_calls} "
              f"({pos_calls / args.orders:.1f} per order: P7 per candidate + P1); "
              f"state writes {CountingRecords.writes / args.orders:.1f} per order; retries queued {queued_by_poll} "
              f"(left after running them: {len(ctx.queue.queued)}); {poll_patience.summary()}")

        writes_before = CountingRecords.writes
        started = time.monotonic()
        for n in range(args.orders):
            order = s1.load_order(ctx, str(900000 + n))
            confirm_patience.run(s1.confirm_outbound, ctx, {
                "io_id": str(900000 + n), "fulfilment_id": order.data["fulfilment_id"], "how": "shipped",
                "carrier_code": "SF", "tracking_no": f"SF{n}"})
        confirm_seconds = time.monotonic() - started
        sent_calls = len(accepted(jst_box.calls(SENT)))
        confirmed = sum(1 for o in jst_box.state.snapshot("outbounds") if o["status"] == "Confirmed")
        bound = max((sent_calls - 1) // args.per_second, 60 * ((sent_calls + scan_calls - 1) // args.per_minute))
        print(f"confirm: {confirmed} outbounds Confirmed with {sent_calls} wms/sent/upload calls (one per outbound) "
              f"in {confirm_seconds:.1f} s; rate bound {bound:.0f} s at {args.per_second}/s {args.per_minute}/min; "
              f"state writes {(CountingRecords.writes - writes_before) / args.orders:.1f} per order; "
              f"{confirm_patience.summary()}")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"CPU {time.process_time() - cpu0:.1f} s, peak memory {peak_mb:.0f} MB")
    finally:
        jst_box.stop()
        pos_box.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
