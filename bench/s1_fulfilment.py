"""S1 at size: N online orders polled from the JST sandbox, routed to stores and created at the
店+ sandbox, shipped by the stores, then confirmed in JST, through the real flow
(flows/store_fulfilment/) and the real HTTP adapters (signed JST calls paced at the tenant's
limit). The sandboxes run in child processes (separate systems; their request logs and
outbounds are not the bridge's memory). Flow state is in memory (tests/fakes.py: what
DynamoDB holds), its writes counted as DynamoDB would see them.

Printed, counted from outside the flow (the sandboxes' request logs, this process's clock,
CPU time and max RSS):
- the poll: JST calls (scan pages) vs the minimum floor(N / 50) + 1 (the full pages, then the
  short or empty one that ends the scan), 店+ calls per order (P7 per candidate store + P1),
  wall time, orders dispatched per second, state writes per order; with ``--pages-per-run K``
  the poll runs out of time after K pages and is run again until the backlog is through;
- the confirmations: every order's ``fulfilment.shipped`` handled as the store event handler
  does (the confirmation waits), then the polls that confirm what waits: JST wms/sent/upload
  calls vs the minimum ceil(N / 50), outbounds confirmed per minute, wall time vs the rate bound;
- refusals: a call JST refused as rate limited (199 / 200) or another transient failure is not
  a crash: the bench waits the error's ``retry_after_seconds`` and tries the step again, as the
  schedule or the retry worker would, and prints how many it met and how long it waited;
- memory: max RSS of this process (the bridge: flow, adapters, and the in-memory state that
  stands for DynamoDB), and how much of it that state is (the Python objects it holds), so
  what the flow itself holds shows apart from what DynamoDB would hold.
``--sizes 100,1000,10000`` runs each size in a fresh process and prints them side by side. No
assertions.

Usage (from the repository root):

    .venv/bin/python bench/s1_fulfilment.py              # 300 orders, 3 stores, JST limit 5/s 100/min
    .venv/bin/python bench/s1_fulfilment.py --sizes 100,1000,10000 --per-second 50 --per-minute 3000 --no-stock-check
    .venv/bin/python bench/s1_fulfilment.py --orders 1000 --per-minute 1000 --pages-per-run 5
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import subprocess
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


class Sandbox:
    """A sandbox (``jst`` or ``pos``) served by a child process; ``call`` runs one of its
    methods there (``state.snapshot`` reaches into its state) and returns the answer."""

    def __init__(self, which: str) -> None:
        context = multiprocessing.get_context("fork" if sys.platform != "darwin" else "spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, which), daemon=True)
        self.process.start()
        self.url = self.conn.recv()

    def call(self, method: str, *args, **kwargs):
        self.conn.send((method, args, kwargs))
        answer = self.conn.recv()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def stop(self) -> None:
        self.call("stop")
        self.process.join(timeout=10)


def _serve(conn, which: str) -> None:
    from o2o_local.jst_sandbox import JstSandbox
    from o2o_local.pos_sandbox import PosSandbox

    box = JstSandbox("127.0.0.1", 0) if which == "jst" else PosSandbox("127.0.0.1", 0)
    box.start()
    conn.send(box.url if which == "jst" else box.base_url)
    # Counted here, so the logs and the outbounds never travel into the bridge's process.
    counts = {
        "accepted_calls": lambda path, skip=0: len(accepted(box.calls(path)[skip:])),
        "all_calls": lambda path: len(box.calls(path)),
        "confirmed": lambda: sum(1 for o in box.state.snapshot("outbounds") if o["status"] == "Confirmed"),
        "requests": lambda: len(box.state.requests),
    }
    while True:
        method, args, kwargs = conn.recv()
        try:
            if method in counts:
                answer = counts[method](*args, **kwargs)
            else:
                target = box
                for name in method.split("."):
                    target = getattr(target, name)
                answer = target(*args, **kwargs)
        except BaseException as exc:  # told to the bench
            answer = exc
        if method == "stop":
            conn.send(True)
            return
        conn.send(answer)


def deep_size(root) -> int:
    """Bytes of the Python objects reachable from ``root`` (each counted once)."""
    seen, stack, total = set(), [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (int, float, bool)):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif hasattr(obj, "__dict__"):
            stack.append(vars(obj))
        elif hasattr(obj, "__slots__"):
            stack.extend(getattr(obj, name) for name in obj.__slots__ if hasattr(obj, name))
    return total


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024 * 1024)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--sizes", default="", help="comma-separated order counts, each run in a fresh process")
    parser.add_argument("--per-second", type=int, default=5)
    parser.add_argument("--per-minute", type=int, default=100)
    parser.add_argument("--pages-per-run", type=int, default=0,
                        help="time for this many scan pages per poll run (0: one run with time for all)")
    parser.add_argument("--skus", type=int, default=100, help="the orders' SKUs, one each in turn (default 100)")
    parser.add_argument("--no-stock-check", action="store_true",
                        help="routing.check_stock: false (no P7 per candidate store: one 店+ call per order)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one size, as a line of JSON
    args = parser.parse_args(argv)
    if args.sizes:
        return side_by_side([int(n) for n in args.sizes.split(",")], args)
    figures = run(args)
    if args.json:
        print("JSON " + json.dumps(figures))
    return 0


def side_by_side(sizes: list[int], args) -> int:
    print(f"s1_fulfilment: {', '.join(map(str, sizes))} outbounds, each in a fresh process; JST limit "
          f"{args.per_second}/s {args.per_minute}/min{'; no P7 stock check' if args.no_stock_check else ''}")
    rows = []
    for size in sizes:
        argv = [sys.executable, __file__, "--orders", str(size), "--skus", str(args.skus), "--per-second", str(args.per_second),
                "--per-minute", str(args.per_minute), "--json"]
        if args.pages_per_run:
            argv += ["--pages-per-run", str(args.pages_per_run)]
        if args.no_stock_check:
            argv += ["--no-stock-check"]
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        lines = done.stdout.splitlines()
        print("\n".join("  " + line for line in lines if not line.startswith("JSON ")))
        rows.append(json.loads(next(line for line in lines if line.startswith("JSON "))[5:]))
    print()
    print(f"{'outbounds':>9} | {'dispatched/s':>12} | {'scan calls':>10} | {'confirmed/min':>13} | "
          f"{'sent/upload calls':>17} | {'confirm s':>9} | {'bound s':>7} | {'peak RSS MB':>11} | "
          f"{'of which state MB':>17} | {'rest MB':>7}")
    for r in rows:
        print(f"{r['orders']:>9} | {r['dispatch_rate']:>12.0f} | {r['scan_calls']:>10} | {r['confirm_rate']:>13.0f} | "
              f"{r['sent_calls']:>17} | {r['confirm_seconds']:>9.1f} | {r['confirm_bound']:>7.0f} | "
              f"{r['peak_mb']:>11.0f} | {r['state_mb']:>17.1f} | {r['peak_mb'] - r['state_mb']:>7.0f}")
    return 0


def run(args) -> dict:
    import yaml

    from fakes import FakeCommandQueue, FakeCursors, FakeLinks, FakeMetrics, FakeRecords, FakeTenants, FakeTimeline
    from o2o_bridge.connectors.jushuitan.api import JstApiAdapter
    from o2o_bridge.connectors.jushuitan.client import JstClient
    from o2o_bridge.connectors.jushuitan.erp import JstErp
    from o2o_bridge.connectors.jushuitan.factory import credentials_of as jst_credentials
    from o2o_bridge.connectors.jushuitan.rate_limit import InMemorySlidingLogLimiter, windows_for
    from o2o_bridge.connectors.jushuitan.tokens import InMemoryTokenStore
    from o2o_bridge.connectors.jushuitan.warehouse import JstWarehouse
    from o2o_bridge.connectors.store.api import StoreSystemApi
    from o2o_bridge.connectors.store.client import PosClient
    from o2o_bridge.connectors.store.factory import credentials_of as pos_credentials

    from o2o_bridge.flows import store_fulfilment as s1
    from o2o_bridge.flows.kit import FlowContext
    from o2o_bridge import wiring
    from o2o_bridge.retry import RetryRunner
    from o2o_bridge.tenant import parse_tenant

    class CountingRecords(FakeRecords):
        writes = 0

        def put(self, *a, **k):
            CountingRecords.writes += 1
            return super().put(*a, **k)

    jst_box, pos_box = Sandbox("jst"), Sandbox("pos")
    try:
        jst_box.call("seed_demo")
        jst_box.call("rate_limit.configure", per_second=args.per_second, per_minute=args.per_minute, enabled=True)
        jst_box.call("clear_calls")
        pos_box.call("seed_demo")
        # The orders spread over --skus SKUs: the stores hold a dispatched order's lines in one
        # record per store and SKU, which grows with the orders of that SKU held at once.
        skus = [f"BENCH-SKU-{n:03d}" for n in range(args.skus)]
        jst_box.call("seed", skus=[{"sku_id": sku, "i_id": "BENCH"} for sku in skus])
        for store in ("S001", "S002"):
            pos_box.call("set_store_stock", ENT_ID, store, [{"sku_id": sku, "qty": 10 ** 6} for sku in skus],
                         emit=False)
        for n in range(args.orders):
            jst_box.call("add_outbound", io_id=900000 + n, so_id=f"BENCH-{n}", wms_co_id=10001, shop_id=10086,
                         receiver_name="王", receiver_mobile="138", receiver_state="上海市",
                         receiver_city="上海市", receiver_district="静安区", receiver_address="1号",
                         items=[{"sku_id": skus[n % len(skus)], "qty": 1}])
        pos_requests_before = pos_box.call("requests")

        doc = yaml.safe_load((ROOT / "local" / "tenants" / "demo.yaml").read_text(encoding="utf-8"))
        doc["jushuitan"]["base_url"], doc["pos"]["base_url"] = jst_box.url, pos_box.url
        doc["jushuitan"]["rate_limit"] = {"per_second": args.per_second, "per_minute": args.per_minute}
        for store in doc["stores"]:
            store["regions"], store["daily_capacity"] = [], None
        if args.no_stock_check:
            doc.setdefault("routing", {})["check_stock"] = False
        tenant = parse_tenant(doc)
        client = JstClient(ENT_ID, jst_credentials(tenant, None), token_store=InMemoryTokenStore())
        client.limiter = InMemorySlidingLogLimiter(tenant.jushuitan.app_key,
                                                   windows_for(args.per_second, args.per_minute),
                                                   margin_seconds=0.05, max_wait_seconds=70.0)
        jst = JstApiAdapter(client)
        ctx = FlowContext(tenant=tenant, warehouse=JstWarehouse(jst, tenant), erp=JstErp(jst, tenant),
                          store=StoreSystemApi(PosClient(pos_credentials(tenant, None))), links=FakeLinks(),
                          cursors=FakeCursors(), records=CountingRecords(), timeline=FakeTimeline(),
                          queue=FakeCommandQueue(), metric=FakeMetrics())
        rss_before = rss_mb()

        print(f"s1_fulfilment: {args.orders} outbounds of {args.skus} SKUs, stores S001/S002, JST limit "
              f"{args.per_second}/s {args.per_minute}/min")
        cpu0, started = time.process_time(), time.monotonic()
        poll_patience, confirm_patience = Patience(), Patience()
        runs = []

        def polls(patience: Patience) -> None:
            while True:  # the schedule runs the poll again until the backlog is through
                if args.pages_per_run:
                    budget = iter([1e6] * args.pages_per_run)  # then the Lambda is nearly out of time
                    ctx.time_left = lambda budget=budget: next(budget, 0.0)
                runs.append(patience.run(s1.poll_jst_outbound, ctx))
                if not runs[-1]["stopped_early"]:
                    return

        polls(poll_patience)
        total_pages = sum(r["pages"] for r in runs)
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
        pos_calls = pos_box.call("requests") - pos_requests_before
        scan_calls = jst_box.call("accepted_calls", SCAN)
        if args.pages_per_run:
            print(f"poll in {len(runs)} runs of at most {args.pages_per_run} pages: JST scan calls {scan_calls} "
                  f"over all runs (an uninterrupted scan: {total_pages})")
        dispatch_rate = summary["dispatched"] / max(poll_seconds, 1e-9)
        print(f"poll: dispatched {summary['dispatched']} in {poll_seconds:.1f} s ({dispatch_rate:.0f}/s); "
              f"JST scan calls {scan_calls} (minimum {args.orders // 50 + 1}); 店+ calls {pos_calls} "
              f"({pos_calls / args.orders:.1f} per order: {'P1' if args.no_stock_check else 'P7 per candidate + P1'}); "
              f"state writes {CountingRecords.writes / args.orders:.1f} per order; retries queued {queued_by_poll} "
              f"(left after running them: {len(ctx.queue.queued)}); {poll_patience.summary()}")

        # The stores ship every order: each event handled as the store event handler does.
        for n in range(args.orders):
            order = s1.load_order(ctx, str(900000 + n))
            s1.queue_confirmation(ctx, {"io_id": str(900000 + n), "fulfilment_id": order.data["fulfilment_id"],
                                        "how": "shipped", "carrier_code": "SF", "tracking_no": f"SF{n}"})
        writes_before = CountingRecords.writes
        runs.clear()
        scans_before = jst_box.call("all_calls", SCAN)
        started = time.monotonic()
        while ctx.records.list(ctx.ent_id, s1.PENDING_CONFIRM_KIND):  # the next polls confirm what waits
            polls(confirm_patience)
        confirm_seconds = time.monotonic() - started
        sent_calls = jst_box.call("accepted_calls", SENT)
        extra_scans = jst_box.call("accepted_calls", SCAN, scans_before)
        confirmed = jst_box.call("confirmed")
        minimum = -(-args.orders // 50)
        calls = sent_calls + extra_scans
        bound = max((calls - 1) // args.per_second, 60 * ((calls - 1) // args.per_minute))
        confirm_rate = confirmed * 60 / max(confirm_seconds, 1e-9)
        print(f"confirm: {confirmed} outbounds Confirmed by {len(runs)} poll(s) with {sent_calls} wms/sent/upload "
              f"calls (minimum ceil({args.orders}/50) = {minimum}) and {extra_scans} scan calls in "
              f"{confirm_seconds:.1f} s ({confirm_rate:.0f} outbounds/min); rate bound {bound:.0f} s at "
              f"{args.per_second}/s {args.per_minute}/min; state writes "
              f"{(CountingRecords.writes - writes_before) / args.orders:.1f} per order; {confirm_patience.summary()}")
        # What DynamoDB and the S3 ledger would hold (records, timeline, links, cursors, ledger facts).
        state_mb = deep_size((ctx.records.items, ctx.timeline.items, ctx.links, ctx.cursors, ctx.ledger,
                              ctx.metric)) / 2 ** 20
        peak_mb = rss_mb()
        print(f"CPU {time.process_time() - cpu0:.1f} s; peak memory {peak_mb:.0f} MB max RSS of this process "
              f"({rss_before:.0f} MB before the poll); the in-memory state standing for DynamoDB and S3: "
              f"{len(ctx.records.items)} records, {len(ctx.timeline.items)} timeline entries and the ledger's facts: "
              f"{state_mb:.1f} MB of Python objects")
        return {"orders": args.orders, "dispatch_rate": dispatch_rate, "scan_calls": scan_calls,
                "confirm_rate": confirm_rate, "sent_calls": sent_calls, "confirm_seconds": confirm_seconds,
                "confirm_bound": bound, "peak_mb": peak_mb, "state_mb": state_mb}
    finally:
        jst_box.stop()
        pos_box.stop()


if __name__ == "__main__":
    sys.exit(main())
