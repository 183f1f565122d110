"""S1 at size: N online orders polled from the JST sandbox, routed to stores and created at the
店+ sandbox, shipped by the stores, then confirmed in JST, through the real flow
(flows/store_fulfilment/) and the real HTTP adapters (signed JST calls paced at the tenant's
limit). The sandboxes run in child processes (separate systems; their request logs and
outbounds are not the bridge's memory), and so does the flow's state: the stand-ins for
DynamoDB and S3 (tests/fakes.py records, cursors, links, timeline; the in-memory ledger) are
served by a third child process over a pipe, as the bridge's state lives outside its Lambda.

Printed, counted from outside the flow (the sandboxes' request logs, the state process's count
of the requests it served, this process's clock and CPU time, each process's max RSS from /proc):
- the poll: JST calls (scan pages) vs the minimum floor(N / 50) + 1 (the full pages, then the
  short or empty one that ends the scan), 店+ calls per order (P7 per candidate store + P1),
  wall time, orders dispatched per second, the bridge's CPU time per order (its process's clock:
  the wall time also holds the sandboxes' and the state process's), calls of the state ports per
  order (reads, writes: the ports' calls, not DynamoDB requests, which bench/cost.py counts); with
  ``--pages-per-run K`` the poll runs out of time after K pages and is run again until the
  backlog is through;
- the confirmations: every order's ``fulfilment.shipped`` handled as the store event handler
  does (the confirmation waits), then the polls that confirm what waits: JST wms/sent/upload
  calls vs the minimum ceil(N / 50), the scan calls those polls made (the outbounds JST
  confirmed come back to a scan with a new ts unless the poll reads on past them), outbounds
  confirmed per minute, wall time vs the rate bound;
- refusals: a call JST refused as rate limited (199 / 200) or another transient failure is not
  a crash: the bench waits the error's ``retry_after_seconds`` and tries the step again, as the
  schedule or the retry worker would, and prints how many it met and how long it waited;
- memory: max RSS of the bridge's process (flow, adapters, the bench's driver; no state in it)
  and of the state process (what DynamoDB and S3 would hold, and the Python objects it is), side
  by side; ``--trace-memory`` adds what the bridge's process holds at the end by file
  (tracemalloc).
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
import threading
import time
import tracemalloc
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


class StateProcess:
    """The stand-ins for DynamoDB and S3 (tests/fakes.py records, cursors, links, timeline; the
    in-memory ledger) served by a child process, as the bridge's state lives outside its Lambda:
    the bridge's process holds none of it, so its max RSS is the bridge's own. ``proxy(name)``
    is the port the flow gets; each call is one message over a pipe, and the child counts them
    (reads, writes) from outside the flow."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork" if sys.platform != "darwin" else "spawn")
        self.conn, child = context.Pipe()
        self.lock = threading.Lock()
        self.process = context.Process(target=_serve_state, args=(child,), daemon=True)
        self.process.start()
        self.conn.recv()

    def call(self, target: str, method: str, *args, **kwargs):
        with self.lock:
            self.conn.send((target, method, args, kwargs))
            answer = self.conn.recv()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def proxy(self, target: str) -> "Remote":
        return Remote(self, target)

    def stop(self) -> None:
        self.call("", "stop")
        self.process.join(timeout=10)


class Remote:
    """One port of the state process: ``remote.put(...)`` runs ``put`` there."""

    def __init__(self, state: StateProcess, target: str) -> None:
        self._state, self._target = state, target

    def __getattr__(self, method: str):
        if method.startswith("__"):
            raise AttributeError(method)
        if method == "put_joined":
            return self._put_joined
        return lambda *args, **kwargs: self._call(method, *args, **kwargs)

    def _call(self, method: str, *args, **kwargs):
        writes = kwargs.pop("writes", None)
        if callable(writes):
            # A joined block's writes (a closure over the flow's state: it cannot cross the pipe)
            # run here first, through these same proxies, then the write that closes the block:
            # one by one, as the in-memory store does when DynamoDB would refuse the joined request.
            writes()
        return self._state.call(self._target, method, *args, **kwargs)

    def _put_joined(self, ent_id, kind, key, data, *, expected_version, ttl_days=None, writes):
        result = writes()
        return self._state.call(self._target, "put", ent_id, kind, key, data, expected_version=expected_version,
                                ttl_days=ttl_days), result


READS = {"get", "get_many", "get_many_of", "prefetch", "list", "list_page", "find", "entries"}
WRITES = {"put", "put_or_current", "put_newer", "put_always", "put_many", "write_together", "delete", "advance",
          "link", "record", "append"}


def _serve_state(conn) -> None:
    from fakes import FakeCursors, FakeLinks, FakeRecords, FakeTimeline
    from o2o_bridge.ledger import MemoryLedger

    ports = {"records": FakeRecords(), "cursors": FakeCursors(), "links": FakeLinks(), "timeline": FakeTimeline(),
             "ledger": MemoryLedger()}
    requests: Counter[str] = Counter()
    rss_at_start = peak_rss_mb()

    def count(kind: str, prefix: str = "") -> int:
        return sum(1 for (_, k, key) in ports["records"].items if k == kind and key.startswith(prefix))

    def figures() -> dict:
        return {"requests": dict(requests), "peak_mb": peak_rss_mb(), "start_mb": rss_at_start,
                "objects_mb": deep_size((ports["records"].items, ports["timeline"].items, ports["links"].links,
                                         ports["cursors"].cursors, ports["ledger"].facts)) / 2 ** 20,
                "records": len(ports["records"].items), "timeline": len(ports["timeline"].items)}

    conn.send(True)
    while True:
        target, method, args, kwargs = conn.recv()
        if method == "stop":
            conn.send(True)
            return
        try:
            if target == "":  # the bench's own questions, not the flow's
                answer = {"count": count, "figures": figures}[method](*args, **kwargs)
            else:
                answer = getattr(ports[target], method)(*args, **kwargs)
                requests[("read" if method in READS else "write" if method in WRITES else "other") + f" {target}"] += 1
        except BaseException as exc:  # raised in the bridge's process, as the port would raise it
            answer = exc
        conn.send(answer)


class PeakSampler(threading.Thread):
    """With tracemalloc on: every 0.2 s, when the bridge's process holds more than at any earlier
    look, what it holds by file (so the peak is explained, not only the end)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.best, self.by_file, self.done = 0, [], threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            current, _ = tracemalloc.get_traced_memory()
            if current > self.best * 1.05:
                self.best = current
                stats = tracemalloc.take_snapshot().filter_traces(
                    [tracemalloc.Filter(False, tracemalloc.__file__)]).statistics("filename")
                self.by_file = [(str(stat.traceback[0].filename).replace(str(ROOT) + "/", ""), stat.size)
                                for stat in stats[:8]]


def peak_rss_mb(pid: int | str = "self") -> float:
    """Max RSS (VmHWM) of a process as the kernel counts it (/proc), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024 * 1024)


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
    parser.add_argument("--trace-memory", action="store_true",
                        help="tracemalloc in the bridge's process: what it holds at the end, by file (slower)")
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
        if args.trace_memory:
            argv += ["--trace-memory"]
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        lines = done.stdout.splitlines()
        print("\n".join("  " + line for line in lines if not line.startswith("JSON ")))
        rows.append(json.loads(next(line for line in lines if line.startswith("JSON "))[5:]))
    print()
    print("the bridge's process (flow, adapters, bench driver) and the state process (DynamoDB and S3 stand-ins), "
          "max RSS from /proc")
    print(f"{'outbounds':>9} | {'dispatched/s':>12} | {'CPU ms/order':>12} | {'scan calls':>10} | "
          f"{'confirmed/min':>13} | "
          f"{'sent/upload calls':>17} | {'confirm scans':>13} | {'confirm s':>9} | {'bound s':>7} | "
          f"{'bridge MB':>9} | {'at start':>8} | {'state MB':>8} | {'state objects MB':>16}")
    for r in rows:
        print(f"{r['orders']:>9} | {r['dispatch_rate']:>12.0f} | {r['dispatch_cpu_ms']:>12.1f} | {r['scan_calls']:>10} | "
              f"{r['confirm_rate']:>13.0f} | "
              f"{r['sent_calls']:>17} | {r['extra_scans']:>13} | {r['confirm_seconds']:>9.1f} | "
              f"{r['confirm_bound']:>7.0f} | {r['peak_mb']:>9.0f} | {r['start_mb']:>8.0f} | "
              f"{r['state_peak_mb']:>8.0f} | {r['state_mb']:>16.1f}")
    return 0


def run(args) -> dict:
    import yaml

    from fakes import FakeCommandQueue, FakeMetrics, FakeTenants
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

    state, jst_box, pos_box = StateProcess(), Sandbox("jst"), Sandbox("pos")
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
                          store=StoreSystemApi(PosClient(pos_credentials(tenant, None))),
                          links=state.proxy("links"), cursors=state.proxy("cursors"), records=state.proxy("records"),
                          timeline=state.proxy("timeline"), ledger=state.proxy("ledger"),
                          queue=FakeCommandQueue(), metric=FakeMetrics())
        rss_before = peak_rss_mb()
        sampler = PeakSampler()
        if args.trace_memory:
            tracemalloc.start()
            sampler.start()

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
        summary = {"dispatched": sum(r["dispatched"] for r in runs), "parked": sum(r.get("parked", 0) for r in runs)}
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
        poll_cpu = time.process_time() - cpu0
        poll_mb = peak_rss_mb()
        poll_requests = state.call("", "figures")["requests"]
        pos_calls = pos_box.call("requests") - pos_requests_before
        scan_calls = jst_box.call("accepted_calls", SCAN)
        if args.pages_per_run:
            print(f"poll in {len(runs)} runs of at most {args.pages_per_run} pages: JST scan calls {scan_calls} "
                  f"over all runs (an uninterrupted scan: {total_pages})")
        dispatch_rate = summary["dispatched"] / max(poll_seconds, 1e-9)
        # The bridge's own work per order, by this process's CPU clock: the wall rate also holds the
        # sandboxes' and the state process's time, and the waits between them.
        dispatch_cpu_ms = poll_cpu * 1000 / max(summary["dispatched"], 1)
        print(f"poll: dispatched {summary['dispatched']} in {poll_seconds:.1f} s ({dispatch_rate:.0f}/s; the bridge's "
              f"CPU {dispatch_cpu_ms:.1f} ms an order); "
              f"JST scan calls {scan_calls} (minimum {args.orders // 50 + 1}); 店+ calls {pos_calls} "
              f"({pos_calls / args.orders:.1f} per order: {'P1' if args.no_stock_check else 'P7 per candidate + P1'}); "
              f"state port calls per order {per_order(poll_requests, args.orders)}; retries queued {queued_by_poll} "
              f"(left after running them: {len(ctx.queue.queued)}); {poll_patience.summary()}")
        if summary["parked"]:
            # The figures below would be those of failing orders: say so, loudly (o2o exceptions
            # list in a real stack shows each one's reason).
            print(f"  WARNING: {summary['parked']} of {args.orders} outbounds were parked, not dispatched: "
                  "the figures are not those of a working dispatch")

        # The stores ship every order: each event handled as the store event handler does.
        for n in range(args.orders):
            order = s1.load_order(ctx, str(900000 + n))
            s1.queue_confirmation(ctx, {"io_id": str(900000 + n), "fulfilment_id": order.data["fulfilment_id"],
                                        "how": "shipped", "carrier_code": "SF", "tracking_no": f"SF{n}"})
        requests_before = state.call("", "figures")["requests"]
        runs.clear()
        scans_before = jst_box.call("all_calls", SCAN)
        started = time.monotonic()
        while state.call("", "count", s1.PENDING_CONFIRM_KIND):  # the next polls confirm what waits
            polls(confirm_patience)
        confirm_seconds = time.monotonic() - started
        sent_calls = jst_box.call("accepted_calls", SENT)
        extra_scans = jst_box.call("accepted_calls", SCAN, scans_before)
        confirmed = jst_box.call("confirmed")
        minimum = -(-args.orders // 50)
        calls = sent_calls + extra_scans
        bound = max((calls - 1) // args.per_second, 60 * ((calls - 1) // args.per_minute))
        confirm_rate = confirmed * 60 / max(confirm_seconds, 1e-9)
        figures = state.call("", "figures")
        confirm_requests = {k: v - requests_before.get(k, 0) for k, v in figures["requests"].items()}
        print(f"confirm: {confirmed} outbounds Confirmed by {len(runs)} poll(s) with {sent_calls} wms/sent/upload "
              f"calls (minimum ceil({args.orders}/50) = {minimum}) and {extra_scans} scan calls in "
              f"{confirm_seconds:.1f} s ({confirm_rate:.0f} outbounds/min); rate bound {bound:.0f} s at "
              f"{args.per_second}/s {args.per_minute}/min; state port calls per order "
              f"{per_order(confirm_requests, args.orders)}; {confirm_patience.summary()}")
        peak_mb = peak_rss_mb()
        print(f"CPU {time.process_time() - cpu0:.1f} s; the bridge's process (flow, adapters, the bench's driver): "
              f"max RSS {peak_mb:.0f} MB ({rss_before:.0f} MB before the poll, {poll_mb:.0f} MB after it); "
              f"the state process standing for DynamoDB and S3: max RSS {figures['peak_mb']:.0f} MB "
              f"({figures['start_mb']:.0f} MB at its start), {figures['records']} records, {figures['timeline']} "
              f"timeline entries and the ledger's facts: {figures['objects_mb']:.1f} MB of Python objects")
        traced = []
        if args.trace_memory:
            sampler.done.set()
            sampler.join()
            current, peak = tracemalloc.get_traced_memory()
            traced = sampler.by_file
            print(f"tracemalloc in the bridge's process (from the poll on): {current / 2 ** 20:.1f} MB held at the "
                  f"end, peak {peak / 2 ** 20:.1f} MB; at the highest sampled ({sampler.best / 2 ** 20:.1f} MB), "
                  f"held by file:")
            for name, size in traced:
                print(f"  {size / 2 ** 10:9.0f} KB  {name}")
        return {"orders": args.orders, "dispatch_rate": dispatch_rate, "dispatch_cpu_ms": dispatch_cpu_ms,
                "scan_calls": scan_calls,
                "confirm_rate": confirm_rate, "sent_calls": sent_calls, "extra_scans": extra_scans,
                "confirm_seconds": confirm_seconds, "confirm_bound": bound, "peak_mb": peak_mb, "poll_mb": poll_mb,
                "start_mb": rss_before, "state_peak_mb": figures["peak_mb"], "state_mb": figures["objects_mb"],
                "traced": traced}
    finally:
        state.stop()
        jst_box.stop()
        pos_box.stop()


def per_order(requests: dict[str, int], orders: int) -> str:
    reads = sum(v for k, v in requests.items() if k.startswith("read"))
    writes = sum(v for k, v in requests.items() if k.startswith("write"))
    return f"{reads / orders:.1f} reads, {writes / orders:.1f} writes (records, links, cursors, timeline, ledger)"


if __name__ == "__main__":
    sys.exit(main())
