"""One JST app's rate limit shared by several processes through DynamoDB, as concurrent Lambda
containers share it: how much of the limit they use, and whether JST ever refuses them.

Starts a local DynamoDB (moto server, the template's StateTable) and the JST sandbox, whose
limiter counts sliding windows (a call is refused with 199 when the last second already holds
``per_second`` calls, 200 when the last minute holds ``per_minute``). Then ``--processes``
separate Python processes each build the bridge's own JST client with the tenant default
limiter (the sliding grant log in StateTable) and call JST as fast as their limiter lets them
for ``--seconds``. Counted at the sandbox, from its call log (not by the clients):

- accepted calls that arrived within the run vs the most the sandbox's windows allow in the
  run's length (use; a limiter may not wait past the run's end, so a full minute window does
  not make the processes send after it);
- refused calls (199 / 200);
- the busiest sliding second and minute as the sandbox saw them.

No assertions.

    .venv/bin/python bench/shared_rate_limit.py                    # 4 processes, 5/s 100/min, 30 s
    .venv/bin/python bench/shared_rate_limit.py --per-minute 1000 --seconds 20
    .venv/bin/python bench/shared_rate_limit.py --riders   # each grant carries a record write (GrantRiders)
"""

from __future__ import annotations

import argparse
import bisect
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "layers" / "shared", ROOT / "local"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

PATH = "/open/shops/query"


def worker(number: int, endpoint: str, table: str, jst_url: str, limits: tuple[int, int], margin_ms: int,
           start_at: float, stop_at: float, results: Any, riders: bool = False) -> None:
    """One 'container': its own boto3 client, its own limiter object, the shared grant log."""
    for extra in (ROOT / "layers" / "shared", ROOT / "local"):
        sys.path.insert(0, str(extra))
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    import boto3
    import httpx

    from o2o_bridge.connectors.jushuitan.client import FORM, JstClient, JstCredentials
    from o2o_bridge.connectors.jushuitan.errors import JstRateLimited
    from o2o_bridge.connectors.jushuitan.rate_limit import DynamoSlidingLogLimiter, windows_for
    from o2o_bridge.connectors.jushuitan.tokens import InMemoryTokenStore
    from o2o_local.jst_sandbox import DEMO

    creds = DEMO["credentials"]
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint)
    requests = {"PutItem": 0, "GetItem": 0, "TransactWriteItems": 0}

    def count(event_name: str, **_: Any) -> None:  # counted by botocore, outside the limiter
        requests[event_name.rsplit(".", 1)[-1]] += 1

    dynamodb.meta.events.register("before-call.dynamodb.PutItem", count)
    dynamodb.meta.events.register("before-call.dynamodb.GetItem", count)
    dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", count)
    from o2o_bridge.connectors.aws.dynamodb_state import DynamoStateStore
    from o2o_bridge.ports import GrantRiders, TogetherWrite

    store = DynamoStateStore(dynamodb, table)
    sent = 0

    def rider() -> Any:  # what a stock flush's close is to its upload: a record write in the grant's request
        return GrantRiders("bench", [TogetherWrite("bench.rider", f"{number}-{sent}", {"n": sent})], None,
                           store.write_records_together)
    limiter = DynamoSlidingLogLimiter(dynamodb, table, creds["app_key"],
                                      windows_for(*limits), margin_seconds=margin_ms / 1000,
                                      max_wait_seconds=stop_at - time.time())
    http = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0), headers={"Content-Type": FORM})
    client = JstClient(f"bench-{number}", JstCredentials(base_url=jst_url, app_key=creds["app_key"],
                                                         app_secret=creds["app_secret"],
                                                         access_token=creds["access_token"],
                                                         refresh_token=creds["refresh_token"]),
                       http=http, token_store=InMemoryTokenStore(), limiter=limiter)
    refused = ok = 0
    time.sleep(max(0.0, start_at - time.time()))
    while time.time() < stop_at:
        try:
            client.call(PATH, {"page_index": 1, "page_size": 10}, **({"riders": rider()} if riders else {}))
            ok += 1
            sent += 1
        except JstRateLimited as exc:
            if exc.code in (199, 200):  # JST refused a call our limiter allowed
                refused += 1
                time.sleep(exc.retry_after_seconds or 1.0)
            else:  # our own limiter asked to wait past the run's end: no call, wait for the end
                time.sleep(max(0.0, min(float(exc.retry_after_seconds or 1.0), stop_at - time.time())))
    results.put((number, ok, refused, requests["PutItem"] + requests["TransactWriteItems"], requests["GetItem"]))
    http.close()


def item_atomic_moto() -> None:
    """Real DynamoDB applies a conditional write, and a transaction, atomically; the moto server
    (threads in this process) checks and writes without a lock, so two requests can both pass the
    same condition, and a transaction (slower there) races more often than a put. Give moto that one
    property of the real service, as tests/jst/conftest.py does for the limiter's concurrency tests."""
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("transact_write_items", "put_item", "update_item", "delete_item"):
        original = getattr(DynamoDBBackend, name)

        def atomic(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, atomic)


def busiest(times: list[float], span: float) -> int:
    times = sorted(times)
    return max((bisect.bisect_right(times, t + span - 1e-9) - i for i, t in enumerate(times)), default=0)


def bound(span: float, per_second: int, per_minute: int) -> int:
    """The most calls sliding per-second and per-minute windows allow from the first to the last
    of them, ``span`` seconds apart (JST refuses a call when the last 1 s / 60 s hold the limit)."""
    return min(per_second * (int(span) + 1), per_minute * (int(span // 60) + 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--per-second", type=int, default=5)
    parser.add_argument("--per-minute", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--margin-ms", type=int, default=50, help="the sliding limiter's margin (tenant default 50)")
    parser.add_argument("--jst-latency-ms", type=int, default=0,
                        help="each call reaches the JST sandbox this much later (before it is counted)")
    parser.add_argument("--jst-jitter-ms", type=int, default=0,
                        help="and up to this much more, drawn per call (calls overtake each other)")
    parser.add_argument("--riders", action="store_true",
                        help="every call carries a record write in its grant's request (ports.GrantRiders)")
    args = parser.parse_args()

    from o2o_local.bootstrap import bootstrap
    from o2o_local.jst_sandbox import JstSandbox
    from o2o_local.moto_server import MotoServer
    from o2o_local.template import load_template

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    item_atomic_moto()
    with MotoServer(port=0) as aws, JstSandbox("127.0.0.1", port=0) as jst:
        names = bootstrap(load_template(), aws.url, log=lambda _line: None)
        jst.seed_demo()
        jst.rate_limit.configure(per_second=args.per_second, per_minute=args.per_minute, enabled=True)
        jst.faults.configure(latency_ms=args.jst_latency_ms, latency_jitter_ms=args.jst_jitter_ms, paths=[PATH])
        jst.clear_calls()
        start_at = time.time() + 3.0  # every process imported and connected before the clock starts
        stop_at = start_at + args.seconds
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        processes = [context.Process(target=worker, args=(i, aws.url, names["StateTable"], jst.url,
                                                          (args.per_second, args.per_minute), args.margin_ms,
                                                          start_at, stop_at, results, args.riders))
                     for i in range(args.processes)]
        for p in processes:
            p.start()
        per_process = sorted(results.get(timeout=args.seconds + 120) for _ in processes)
        for p in processes:
            p.join()
        calls = [c for c in jst.calls(PATH)]

    accepted = [c for c in calls if c["code"] == 0 and start_at <= c["received"] < stop_at]
    late = sum(1 for c in calls if c["code"] == 0 and c["received"] >= stop_at)
    refused = [c for c in calls if c["code"] in (199, 200)]
    stamps = [c["received"] for c in accepted]
    span = args.seconds
    most = bound(span - 1e-9, args.per_second, args.per_minute)
    print(f"{args.processes} processes sharing one JST app's limit ({args.per_second}/s, {args.per_minute}/min) "
          f"through DynamoDB for {args.seconds:g} s; sliding margin {args.margin_ms} ms; counted at the JST sandbox"
          + (f"; each call reaches it {args.jst_latency_ms} ms + up to {args.jst_jitter_ms} ms later"
             if args.jst_latency_ms or args.jst_jitter_ms else "")
          + ("; every grant carries a record write (one TransactWriteItems)" if args.riders else "") + ".")
    print(f"  accepted calls     {len(accepted)} in the run's {span:g} s, of at most {most} the sandbox's sliding "
          f"windows allow -> use {len(accepted) / most:.0%} (goal >= 90 %); {late} granted before the end arrived after it")
    print(f"  refused calls      {len(refused)} (199: {sum(c['code'] == 199 for c in refused)}, "
          f"200: {sum(c['code'] == 200 for c in refused)}) (goal 0)")
    if stamps:
        print(f"  busiest 1 s / 60 s {busiest(stamps, 1.0)} / {busiest(stamps, 60.0)} "
              f"(limits {args.per_second} / {args.per_minute})")
    print("  per process (accepted, refused): " + ", ".join(f"#{n} {ok}/{no}" for n, ok, no, _, _ in per_process))
    made = sum(ok + no for _, ok, no, _, _ in per_process)
    puts, gets = sum(p[3] for p in per_process), sum(p[4] for p in per_process)
    print(f"  DynamoDB (botocore hook): {puts} conditional writes, {gets} reads for {made} JST calls made "
          f"-> {puts / max(made, 1):.2f} writes a call (a lost race or a limiter's refusal costs one more)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
