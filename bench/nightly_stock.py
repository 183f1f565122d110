"""The 02:10 stock run (S4) at size: 50 000 SKUs x 20 stores (1 M store stock rows), 10 % changed.

The JST and 店+ sandboxes run in two child processes (separate systems in real life; in one
process, serving 1 000 P8 pages would delay the JST sandbox's rate check by GIL waits and make
it refuse calls the bridge spaced correctly), seeded there in bulk, in process, so the figures
below are the bridge's own: this process runs the real flow (flows/stock_nightly.py)
with the real HTTP adapters (P8 paging over HTTP, signed JST calls paced by the client's
sliding-window limiter at the tenant's limit, 5/s and 100/min by default; the JST sandbox
enforces the same limit and would refuse a call over it). Flow state (plan, snapshot,
done-markers) is in memory; the number of state writes is printed, as that is what DynamoDB
would see.

1. Seed the stores, run the night once (everything is new: a full push, with the limits lifted
   so the setup takes seconds), change ``--changed`` of the store rows, run the next night.
2. Printed for the second night:
   - JST calls (inventoryv2 uploads, counted by the JST sandbox) vs the minimum ceil(changed / 500)
   - wall time vs the rate-limit bound. The bound (JST's nominal one) is the earliest the last
     of those calls may start when the first starts at 0, under the per-second and per-minute
     limits (80 calls at 5/s and 100/min: 15 s). Beside it, the bound of the limiter in one
     process, which counts its own calls from their answers (a call reached JST before its answer
     came): each 1 s step also waits for the round trip of the call it follows (with the median
     round trip: 15 x (1 s + 1 ms + rtt)); and, for comparison, the bound when the calls are
     counted by their grants, as another container counts them (each window widened by the 50 ms
     margin and 100 ms send allowance: 17.25 s for those 80 calls, 1.15 x). The whole run's wall time (from
     the call until the summary: the snapshot load, the P8 read of every row, the pushes and the
     finish) is compared with both, and so are its phases: until the first upload may start
     (the first 500 changed SKUs read), first to last upload start (the limiter's grants), until
     the P8 read ends (it overlaps the pushes: each full chunk is pushed while the read goes
     on), the rest.
   - compute time (CPU seconds of this process) and peak memory (max RSS of this process)
   Goals: calls = minimum; wall <= 1.1 x the nominal bound; peak <= 512 MB. No assertions.

Usage (from the repository root):

    .venv/bin/python bench/nightly_stock.py                    # 50 000 x 20, 10 % changed
    .venv/bin/python bench/nightly_stock.py --small            # 2 000 x 5 (seconds)
    .venv/bin/python bench/nightly_stock.py --skus 10000 --stores 10 --changed 0.05
"""

from __future__ import annotations

import argparse
import gc
import math
import multiprocessing
import random
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "layers" / "shared", ROOT / "local", ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

UPLOAD = "/open/jushuitan/inventoryv2/upload"
ENT_ID = "10010"


# --- the sandboxes, in a child process ------------------------------------------------------------


def sandboxes(conn: Any, which: str, per_second: int, per_minute: int) -> None:
    """Serve one sandbox (``jst`` or ``pos``) and answer the bench's commands over ``conn``."""
    from o2o_local.jst_sandbox import JstSandbox
    from o2o_local.pos_sandbox import PosSandbox

    jst = JstSandbox("127.0.0.1", 0) if which == "jst" else None
    pos = PosSandbox("127.0.0.1", 0) if which == "pos" else None
    if jst is not None:
        jst.start()
        jst.seed_demo()
    if pos is not None:
        pos.start()
    conn.send(jst.url if jst is not None else pos.base_url)
    stores: list[str] = []
    skus: list[str] = []
    while True:
        command, args = conn.recv()
        if command == "seed":
            n_skus, n_stores, seed = args
            rng = random.Random(seed)
            stores = [f"S{n:03d}" for n in range(1, n_stores + 1)]
            skus = [f"B{n:06d}" for n in range(n_skus)]
            if jst is not None:
                jst.seed(skus=[{"sku_id": s, "i_id": s[:4]} for s in skus])
                conn.send(0)
                continue
            pos.seed({"ent_id": ENT_ID, "api_key": "demo-pos-api-key", "webhook_secret": "demo-webhook-secret",
                      "stores": [{"code": c, "name": c} for c in stores]})
            rows = pos.state.bulk_store_stock(ENT_ID, ((c, s, rng.randint(0, 30)) for s in skus for c in stores))
            # The 1 M cells stand for 店+'s database, not for a heap its collector should walk:
            # without this a full collection (~0.1 s) stalls whichever P8 page triggers it.
            gc.freeze()
            conn.send(rows)
        elif command == "change":
            share, seed = args
            rng = random.Random(seed)
            cells = pos.state.merchant(ENT_ID).store_stock
            picked = rng.sample(range(len(skus) * len(stores)), int(len(skus) * len(stores) * share))
            changes = []
            for index in picked:
                cell = (stores[index % len(stores)], skus[index // len(stores)])
                changes.append((*cell, cells[cell].qty + rng.choice((-3, -2, -1, 1, 2, 3))))
            changed = pos.state.bulk_store_stock(ENT_ID, changes)
            del changes, picked
            gc.collect()
            gc.freeze()
            conn.send(changed)
        elif command == "latency":
            ms, = args
            pos.faults.configure(path="/stock", method="GET", latency_ms=ms)
            conn.send(True)
        elif command == "jst_latency":
            ms, jitter_ms = args
            jst.faults.configure(latency_ms=ms, latency_jitter_ms=jitter_ms, paths=[UPLOAD], seed=7)
            conn.send(True)
        elif command == "limit":
            enabled, = args
            jst.rate_limit.configure(per_second=per_second, per_minute=per_minute, enabled=enabled)
            conn.send(True)
        elif command == "clear_calls":
            jst.clear_calls()
            conn.send(True)
        elif command == "upload_calls":
            calls = jst.calls(UPLOAD)
            conn.send({"calls": len(calls), "accepted": sum(1 for c in calls if c["code"] == 0),
                       "refused": sum(1 for c in calls if c["code"] in (199, 200)),
                       "other": len(jst.calls()) - len(calls)})
        elif command == "stop":
            for sandbox in (jst, pos):
                if sandbox is not None:
                    sandbox.stop()
            conn.send(True)
            return


class Child:
    def __init__(self, which: str, per_second: int, per_minute: int) -> None:
        context = multiprocessing.get_context("fork" if sys.platform != "darwin" else "spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=sandboxes, args=(child, which, per_second, per_minute), daemon=True)
        self.process.start()
        self.url = self.conn.recv()

    def ask(self, command: str, *args: Any) -> Any:
        self.conn.send((command, args))
        return self.conn.recv()

    def stop(self) -> None:
        self.ask("stop")
        self.process.join(timeout=10)


# --- the bridge, here -----------------------------------------------------------------------------


class CountingRecords:
    def __init__(self) -> None:
        from fakes import FakeRecords

        self.inner = FakeRecords()
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put(self, *args: Any, **kwargs: Any) -> Any:
        self.writes += 1
        return self.inner.put(*args, **kwargs)


def bridge_context(urls: dict[str, str], n_stores: int, per_second: int, per_minute: int, readers: int):
    import yaml

    from fakes import FakeCommandQueue, FakeCursors, FakeLinks, FakeMetrics, FakeTimeline
    from o2o_bridge.connectors.jushuitan.api import JstApiAdapter
    from o2o_bridge.connectors.jushuitan.client import JstClient
    from o2o_bridge.connectors.jushuitan.factory import credentials_of as jst_credentials
    from o2o_bridge.connectors.jushuitan.rate_limit import InMemorySlidingLogLimiter, windows_for
    from o2o_bridge.connectors.jushuitan.tokens import InMemoryTokenStore
    from o2o_bridge.connectors.store.api import StoreSystemApi
    from o2o_bridge.connectors.store.client import PosClient
    from o2o_bridge.connectors.store.factory import credentials_of as pos_credentials
    from o2o_bridge.flows.kit import FlowContext
    from o2o_bridge.tenant import parse_tenant

    doc = yaml.safe_load((ROOT / "local" / "tenants" / "demo.yaml").read_text(encoding="utf-8"))
    doc["jushuitan"]["base_url"] = urls["jst"]
    doc["jushuitan"]["rate_limit"] = {"per_second": per_second, "per_minute": per_minute}
    doc["pos"]["base_url"] = urls["pos"]
    doc["pos"]["parallel_reads"] = readers
    doc["stores"] = [{"code": f"S{n:03d}", "name": f"S{n:03d}"} for n in range(1, n_stores + 1)]
    tenant = parse_tenant(doc)
    client = JstClient(ENT_ID, jst_credentials(tenant, None), token_store=InMemoryTokenStore())
    jst = JstApiAdapter(client)
    store = StoreSystemApi(PosClient(pos_credentials(tenant, None)))
    from o2o_bridge.connectors.jushuitan.erp import JstErp
    from o2o_bridge.connectors.jushuitan.warehouse import JstWarehouse

    ctx = FlowContext(tenant=tenant, warehouse=JstWarehouse(jst, tenant), erp=JstErp(jst, tenant),
                      store=store, links=FakeLinks(), cursors=FakeCursors(),
                      records=CountingRecords(), timeline=FakeTimeline(), queue=FakeCommandQueue(),
                      metric=FakeMetrics())

    grants: list[float] = []

    def limit(per_s: int, per_m: int) -> Any:
        """Pace the JST client at these limits; the limiter (its margin and allowance) is returned."""
        client.limiter = GrantLog(InMemorySlidingLogLimiter(
            tenant.jushuitan.app_key, windows_for(per_s, per_m),
            margin_seconds=tenant.jushuitan.rate_limit.margin_ms / 1000, max_wait_seconds=70.0), grants)
        return client.limiter

    return ctx, limit, grants


class GrantLog:
    """The JST client's limiter, noting when each call was let go (what the bound is about)."""

    def __init__(self, inner: Any, grants: list[float]) -> None:
        self.inner, self.grants = inner, grants
        self.answers: list[float] = []  # each call's round trip (seconds)
        self.by_grants = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def acquire(self) -> Any:
        grant = self.inner.acquire()
        self.grants.append(time.perf_counter())
        return grant

    @contextmanager
    def calling(self) -> Iterator[Any]:
        if self.by_grants:  # the limiter as it was: every call counted by its grant's bucket
            grant = self.acquire()
            sent = time.perf_counter()
            yield grant
            self.answers.append(time.perf_counter() - sent)
            return
        with self.inner.calling() as grant:
            self.grants.append(time.perf_counter())
            sent = time.perf_counter()
            yield grant
        self.answers.append(time.perf_counter() - sent)


def rate_bound(calls: int, per_second: int, per_minute: int, widened: float = 0.0) -> float:
    """The earliest the last of ``calls`` may start, the first at 0, under both sliding limits,
    each window ``widened`` seconds longer (0: JST's nominal bound; the limiter's margin plus
    send allowance: the limiter's own bound)."""
    if calls <= 1:
        return 0.0
    last = calls - 1
    return float(max((last // per_second) * (1 + widened), (last // per_minute) * (60 + widened)))


def ratio(seconds: float, bound: float) -> str:
    return f"{seconds / bound:.2f}" if bound else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skus", type=int, default=50_000)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--changed", type=float, default=0.10, help="share of store rows changed (default 0.10)")
    parser.add_argument("--small", action="store_true", help="2 000 SKUs x 5 stores")
    parser.add_argument("--per-second", type=int, default=5)
    parser.add_argument("--per-minute", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--readers", type=int, default=8,
                        help="P8 scans side by side, by SKU range (the tenant's pos.parallel_reads; 1: one stream)")
    parser.add_argument("--p8-latency-ms", type=int, default=50,
                        help="how long the 店+ sandbox takes to answer each P8 page on night 2 (default 50: a store "
                             "system's database query, not the sandbox's in-memory answer)")
    parser.add_argument("--jst-latency-ms", type=int, default=0,
                        help="night 2: each upload reaches the JST sandbox this much later (before it is counted)")
    parser.add_argument("--jst-jitter-ms", type=int, default=0,
                        help="night 2: and up to this much more, drawn per upload (uploads overtake each other)")
    parser.add_argument("--by-grants", action="store_true",
                        help="night 2: count this process's calls by their grants only, as another container "
                             "does (the limiter before it learnt from answers), for comparison")
    args = parser.parse_args(argv)
    if args.small:
        args.skus, args.stores = 2_000, 5

    from o2o_bridge.flows import stock_nightly

    rows = args.skus * args.stores
    print(f"nightly_stock: {args.skus} SKUs x {args.stores} stores = {rows} store rows, "
          f"{args.changed:.0%} changed, JST limit {args.per_second}/s {args.per_minute}/min; night 2 reads P8 "
          f"as {args.readers} SKU range(s) side by side, each page answered after {args.p8_latency_ms} ms"
          + (f"; each upload reaches JST {args.jst_latency_ms} ms + up to {args.jst_jitter_ms} ms later"
             if args.jst_latency_ms or args.jst_jitter_ms else ""))
    jst_child, pos_child = Child("jst", args.per_second, args.per_minute), Child("pos", args.per_second, args.per_minute)
    try:
        started = time.perf_counter()
        jst_child.ask("seed", args.skus, args.stores, args.seed)
        pos_child.ask("seed", args.skus, args.stores, args.seed)
        print(f"  seeded the sandboxes in {time.perf_counter() - started:.1f} s")
        urls = {"jst": jst_child.url, "pos": pos_child.url}
        ctx, limit, grants = bridge_context(urls, args.stores, args.per_second, args.per_minute, args.readers)

        limit(1000, 100_000)  # setup: the first night pushes every SKU; no need to wait for it
        jst_child.ask("limit", False)
        started = time.perf_counter()
        first = stock_nightly.nightly_stock_push(ctx, run_id="night-1", fan_out=False)
        print(f"  night 1 (setup, limits lifted): {first['rows_read']} rows read, {first['pushed']} SKUs pushed "
              f"in {time.perf_counter() - started:.1f} s")

        changed_rows = pos_child.ask("change", args.changed, args.seed + 1)
        pos_child.ask("latency", args.p8_latency_ms)
        jst_child.ask("jst_latency", args.jst_latency_ms, args.jst_jitter_ms)
        limiter = limit(args.per_second, args.per_minute)
        limiter.by_grants = args.by_grants
        jst_child.ask("limit", True)
        jst_child.ask("clear_calls")
        grants.clear()
        writes_before = ctx.records.writes
        phases: dict[str, float] = {}
        wall0, cpu0 = time.perf_counter(), time.process_time()

        def progress(line: str) -> None:
            if "planned" in line:
                phases["read"] = time.perf_counter()

        try:
            second = stock_nightly.nightly_stock_push(ctx, run_id="night-2", fan_out=False, progress=progress)
        except Exception as exc:  # noqa: BLE001 - a refused upload stops the inline run: say so, with the counts
            calls = jst_child.ask("upload_calls")
            print(f"  night 2 stopped after {time.perf_counter() - wall0:.1f} s: {type(exc).__name__}: {exc}")
            print(f"  JST calls: {calls['accepted']} uploads accepted, {calls['refused']} refused by the rate limit")
            return 1
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        calls = jst_child.ask("upload_calls")
    finally:
        jst_child.stop()
        pos_child.stop()

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024 * 1024)
    minimum = math.ceil(second["changed"] / 500)
    bound = rate_bound(calls["accepted"], args.per_second, args.per_minute)
    read_s = phases.get("read", wall0) - wall0
    first_s = (grants[0] - wall0) if grants else 0.0
    grants_s = (grants[-1] - grants[0]) if grants else 0.0
    after_s = wall - ((grants[-1] - wall0) if grants else 0.0)
    print(f"  night 2: {changed_rows} store rows changed -> {second['changed']} SKUs changed "
          f"(drift {second['drift']}), {second['pushed']} pushed")
    print(f"  JST calls: {calls['accepted']} uploads accepted ({calls['refused']} refused by the rate limit, "
          f"{calls['other']} other calls) vs minimum ceil({second['changed']}/500) = {minimum}"
          f"  -> {'minimum' if calls['accepted'] == minimum else 'NOT minimum'}")
    from o2o_bridge.connectors.pacing import BUCKETS_PER_WINDOW, OWN_RESOLUTION_MS

    widened = limiter.margin_seconds + limiter.send_allowance_seconds
    by_grants = rate_bound(calls["accepted"], args.per_second, args.per_minute, widened)
    answers = sorted(limiter.answers)
    median_rtt = answers[len(answers) // 2] if answers else 0.0
    last = calls["accepted"] - 1
    steps_of_a_second = last // args.per_second if bound and bound == (last // args.per_second) else 0
    # One process counts its calls from their answers: each 1 s step also waits for the round trip
    # of the call it follows (and 1 ms for reading whole ms).
    by_answers = bound + steps_of_a_second * (median_rtt + OWN_RESOLUTION_MS / 1000)
    print(f"  rate-limit bounds for {calls['accepted']} calls (first call at 0, when the last may start into an "
          f"idle tenant's windows{'; every call fits in the first second, so no ratio' if not bound else ''}):")
    print(f"    nominal (JST's {args.per_second}/s, {args.per_minute}/min): {bound:.2f} s"
          f"   | paced by answers, as this process paces its own calls: {by_answers:.2f} s = "
          f"{ratio(by_answers, bound)} x nominal ({steps_of_a_second} steps of 1 s + 1 ms + the median round trip, "
          f"{median_rtt * 1000:.0f} ms)"
          f"   | counted by grants, as another container counts these calls: {by_grants:.2f} s = "
          f"{ratio(by_grants, bound)} x (each window widened by the {limiter.margin_seconds * 1000:.0f} ms margin + "
          f"{limiter.send_allowance_seconds * 1000:.0f} ms send allowance, up to one {BUCKETS_PER_WINDOW}th of the "
          f"window a step)")
    print(f"  wall: {wall:.1f} s for the whole run = {ratio(wall, bound)} x nominal bound (goal <= 1.1)"
          f" = {ratio(wall, by_answers)} x paced by answers")
    print(f"    = {first_s:.2f} s until the first upload (snapshot, the first 500 changed SKUs read)"
          f" + {grants_s:.1f} s first to last upload start ({ratio(grants_s, bound)} x nominal, "
          f"{ratio(grants_s, by_answers)} x paced by answers) + {after_s:.2f} s the last upload and the finish")
    steps = sorted(b - a for a, b in zip(grants, grants[args.per_second:]))
    if steps and answers:
        print(f"    pacing: call k+{args.per_second} started {steps[len(steps) // 2]:.3f} s after call k (median; "
              f"min {steps[0]:.3f}, max {steps[-1]:.3f}; JST's window 1 s); an upload's round trip "
              f"{answers[len(answers) // 10] * 1000:.0f} / {answers[len(answers) // 2] * 1000:.0f} / "
              f"{answers[len(answers) * 9 // 10] * 1000:.0f} / {answers[-1] * 1000:.0f} ms (10th / 50th / 90th "
              f"percentile / max)")
    pages = math.ceil(second["rows_read"] / 1000)
    print(f"    P8 read of {second['rows_read']} rows ({pages} pages of 1 000) ended at {read_s:.1f} s = "
          f"{ratio(read_s, bound)} x nominal bound (overlapping the uploads; "
          f"{second['rows_read'] / max(read_s, 1e-9) / 1000:.0f}"
          f" k rows/s; one stream would wait {pages * args.p8_latency_ms / 1000:.0f} s for the answers alone)")
    sustained = calls["accepted"] * 60 / args.per_minute
    print(f"    at the sustained per-minute rate the calls would take {sustained:.0f} s "
          f"(whole run {ratio(wall, sustained)} x that)")
    print(f"  compute: {cpu:.1f} s CPU in this process during night 2")
    print(f"  peak memory: {peak_mb:.0f} MB max RSS of this process (goal <= 512 MB)")
    print(f"  state writes during night 2: {ctx.records.writes - writes_before} "
          f"(snapshot parts, plan chunks, done-markers; one per 5 000 SKUs / 500 items, not one per row)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
