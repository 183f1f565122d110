"""What one callback costs: every AWS request, log bytes and warm duration per callback kind,
and the price of 1 M callbacks of each kind at the list prices stated below.

The bridge runs on the local stack (moto server, the HTTP API emulator, the JST and 店+
sandboxes, the demo tenant). The callbacks arrive the way they do in production: the JST
sandbox pushes over HTTP to the bridge's routes, the 店+ sandbox sends signed store events.
Everything is counted from outside the code it measures:

- AWS requests: a botocore ``before-send`` hook on the default session, so every request any
  client of the handler makes (DynamoDB, SQS, Secrets Manager, ...) is seen as it goes on the
  wire; request and response sizes give DynamoDB's capacity units (below);
- work a callback hands to the retry queue is run (``o2o local drain``) inside the measured
  span of that callback and counted with it: moving work out of the handler is no saving;
  so is work it leaves to a scheduled run (an S1 store event's confirmation, sent in JST by the
  2-minute poll's batch: that part of the poll is run once after each batch and counted);
- the S1 store events arrive about online orders polled from the JST sandbox and dispatched to a
  store first; the 奇门 WMS sandbox calls /qimen/callback for the demo's cloud-warehouse tenant
  (10020), about documents the bridge created there first;
- log bytes: a counting wrapper around the logger's output stream, plus Lambda's own lines per
  invocation at the SystemLogLevel template.yaml sets (``PLATFORM_LOG_BYTES_AT``, stated, not
  measured: the platform writes them);
- X-Ray: the share of invocations recorded under the template's TracingMode (``--tracing``;
  Active records 1 a second and 5 % of the rest, ``--per-second`` says how busy);
- ledger facts: a flow sends each fact to LedgerQueue (an SQS SendMessage, counted by the hook
  above); the ledger writer, run by the drain like any queue consumer, stores what waits there
  as one object per tenant and day of a batch: the objects that appear in the local stack's
  ledger folder are its S3 PUTs (a repeat's refused conditional PUT leaves no file and is not
  counted). The writer's event source is held while the kinds run, so the facts of every kind
  share its batches as the facts of all traffic share a batching window (up to 1,000 facts or
  5 minutes); it is run once at the end, and its invocations, CPU time, log bytes and objects
  are shared out over the facts it stored, each kind taking its facts' part (the facts a kind
  sent are the messages its callbacks added to LedgerQueue, read from the queue's own counts).
  At a trickle of traffic a window holds fewer facts and the PUT's share grows (at most one
  PUT per fact, per tenant and day). The event source's own ReceiveMessage /
  DeleteMessageBatch requests (up to 10 messages each, for the retry queue as for the ledger
  queue) are made by Lambda's pollers, not by a handler: SQS bills them (about 0.2 requests a
  message, $0.08 per 1 M messages, plus the idle pollers' long polls, a fixed few cents a month
  per queue), and they are not counted here;
- outside calls: the requests the JST and 店+ sandboxes received (their call logs);
- duration: the CPU time of the handlers' threads, taken around each handler by wrapping the
  emulator's handler loader (``HandlerClock``): the moto server, the sandboxes and the emulator
  run on other threads of this process and are not in it, nor is waiting for the GIL on a loaded
  machine. A warm container's clients are kept across the local stack's drains, which rebuild
  them (``keep_runtime_warm``): each batch's first callback paid a cold container's client
  building before. Lambda bills wall time, so the estimate ('est ms') is that CPU time at a 512 MB
  function's share of a vCPU (``CPU_SHARE``: a full vCPU at 1,769 MB, this machine's core taken for
  one), plus a production latency for each AWS request and each outside call (options). The
  sender's wall time ('local ms') is printed beside it: on this machine it is mostly the
  emulator, the sandbox that sends the event (it validates it against the OpenAPI contract and
  signs it) and the moto server, none of which a Lambda pays for.

Each kind is sent N times after one warm-up; a duplicate is the same push or event again. The
kinds and the counting hook are tests/integration/callback_kinds.py, which the request-count
test (tests/integration/test_callback_requests.py) uses too. ``--trace`` lists every DynamoDB
request of one warm callback of each kind with the code that made it.

DynamoDB capacity is estimated from sizes as AWS defines it: a write unit per started KB of
the item written (the request body stands in for the item), two for a transactional write; a
read unit per started 4 KB read (half for an eventually consistent read), item by item for a
batch or transactional read (each item rounded up on its own; a key found missing costs a unit
too; two units a transactional read). No assertions.

    .venv/bin/python bench/cost.py [-n 20] [--only TEXT] [--trace] [--aws-latency-ms 5] [--outside-latency-ms 50]
        [--system-log-level WARN] [--tracing Active --per-second 20] [--xray-sampled 0.05]
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT / "layers" / "shared", ROOT / "local", ROOT / "tests", ROOT / "tests" / "integration"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

# List prices, USD, us-east-1 (AWS price pages as of 2026; arm64 Lambda).
PRICES = {
    "http_api_per_million": 1.00,            # HTTP API requests, first 300 M a month
    "lambda_requests_per_million": 0.20,
    "lambda_arm_gb_second": 0.0000133334,
    "lambda_memory_gb": 0.5,                 # MemorySize 512 in template.yaml
    "dynamodb_wru_per_million": 0.625,       # on-demand write request units
    "dynamodb_rru_per_million": 0.125,       # on-demand read request units
    "sqs_per_million": 0.40,                 # standard queue requests (64 KB chunks)
    "secrets_per_10k": 0.05,                 # Secrets Manager API calls
    "logs_ingest_per_gb": 0.50,              # CloudWatch Logs ingestion
    "s3_put_per_1k": 0.005,                  # S3 Standard PUT requests (a ledger writer's object each)
    "xray_traces_per_million": 5.00,         # X-Ray traces recorded (Tracing: Active)
}
CPU_SHARE = 512 / 1769  # Lambda gives a full vCPU at 1,769 MB and a proportional share below
# Lambda's own JSON lines per invocation at each SystemLogLevel, about this many bytes (not seen
# locally): INFO sends platform.start and platform.report (with its X-Ray part when traced), DEBUG
# adds platform.runtimeDone, WARN sends neither on an invocation that goes well.
PLATFORM_LOG_BYTES_AT = {"DEBUG": 750, "INFO": 500, "WARN": 0}
# X-Ray's sampling of a function with Tracing: Active, fixed by Lambda: 1 invocation a second, then
# 5 % of the rest. PassThrough records an invocation only when its caller sampled it, and no
# caller of this stack samples (the HTTP API has no X-Ray; schedules and the retry queue carry no
# sampled header from an unsampled sender).
XRAY_RESERVOIR_PER_SECOND, XRAY_RATE = 1.0, 0.05
GOAL_DDB_HAPPY, GOAL_DDB_DUPLICATE, GOAL_DOLLARS = 3, 1, 3.00


def template_defaults() -> tuple[str, str]:
    """The SystemLogLevel and Tracing template.yaml gives every function (Globals; a parameter's
    default where it refers to one): what a stack deployed without overrides pays for."""
    from o2o_local.cfn_yaml import load_cfn_file

    template = load_cfn_file(ROOT / "template.yaml")
    parameters, function = template.get("Parameters", {}), template["Globals"]["Function"]

    def value(setting: Any) -> str:
        return parameters[setting["Ref"]]["Default"] if isinstance(setting, dict) else setting

    return value(function["LoggingConfig"]["SystemLogLevel"]), value(function["Tracing"])


def xray_share(tracing: str, per_second: float) -> float:
    """The share of one function's invocations X-Ray records at ``per_second`` invocations a second."""
    if tracing != "Active":
        return 0.0
    reservoir = min(per_second, XRAY_RESERVOIR_PER_SECOND)
    return (reservoir + XRAY_RATE * (per_second - reservoir)) / per_second


from callback_kinds import AwsMeter, Tally, accepted, callback_kinds, warehouse_skus  # noqa: E402 - after sys.path
from callback_kinds import qimen_kinds, s1_kinds  # noqa: E402 - after sys.path

class StdoutMeter(io.TextIOBase):
    """Stands in for stdout, where a Lambda's logs and EMF metrics go, and counts their bytes.
    The emulator's own lines ("[api] ...") are not the function's and are not counted."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, text: str) -> int:
        if not text.startswith("[api]"):
            self.bytes += len(text.encode("utf-8"))
        return len(text)  # swallowed: the bench prints a table, not thousands of log lines

    def flush(self) -> None:
        pass


def _meter_stdout(meter: StdoutMeter) -> None:
    """Every stream handler writing to stdout (the Powertools logger's) writes to the meter."""
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.__stdout__, sys.stdout):
                handler.stream = meter


class HandlerClock:
    """CPU time of every handler invocation of the local stack (the API's routes and the queue
    drain), taken on the invoking thread around the handler: the emulator's handler loader
    (o2o_local.lambda_runtime.load_handler) hands out a timed wrapper. Install before the stack
    starts."""

    def __init__(self) -> None:
        import threading

        from o2o_local import lambda_runtime

        self.cpu_seconds, self.invocations, self._lock = 0.0, 0, threading.Lock()
        load = lambda_runtime.load_handler

        def timed_load(spec: Any) -> Callable[[Any, Any], Any]:
            handler = load(spec)

            def timed(event: Any, context: Any) -> Any:
                started = time.thread_time()
                try:
                    return handler(event, context)
                finally:
                    spent = time.thread_time() - started
                    with self._lock:
                        self.cpu_seconds += spent
                        self.invocations += 1

            return timed

        lambda_runtime.load_handler = timed_load

    def take(self) -> tuple[float, int]:
        with self._lock:
            taken, self.cpu_seconds, self.invocations = (self.cpu_seconds, self.invocations), 0.0, 0
        return taken


def keep_runtime_warm() -> None:
    """A Lambda's warm container keeps the bridge's settings, clients and adapters from its init
    (``runtime.ready`` builds a client for each service its policies grant) and first use. The
    local stack runs every function in this process and drops them whenever a drain changes the
    environment (``drain --now``: O2O_RETRY_NO_DELAY, read once per container), so each batch's
    first callback, and the retry worker in each drain, would pay a cold container's client
    building (about 0.2 s of CPU for DynamoDB's) inside the measured span. The drain's reset is
    followed here by the same building, on the bench's thread, outside the handlers' clock; a
    cold start's cost is bench/cold_start.py's. Caches with data in them (the tenant cache of the
    state store) start empty, so their reads are still counted once per batch."""
    from o2o_local import drain as local_drain

    reset = local_drain.reset_bridge_runtime

    def reset_then_warm() -> None:
        reset()
        from o2o_bridge import runtime

        runtime.settings()
        for service in ("dynamodb", "kms", "s3", "sqs"):
            runtime.aws_client(service)
        runtime.secret_resolver().provider()
        runtime.state_store()
        runtime.command_queue()

    local_drain.reset_bridge_runtime = reset_then_warm


def _lambda_seconds(t: Tally, per: int, aws_latency: float, outside_latency: float) -> float:
    """Billed duration per callback, estimated: the handlers' CPU time at a 512 MB function's share
    of a vCPU, plus a production latency per AWS request and per outside (JST, 店+) call."""
    requests = sum(t.requests.values())
    return (t.cpu_seconds / CPU_SHARE + requests * aws_latency + t.outside_calls * outside_latency) / per


def _dollars_per_million(t: Tally, per: int, aws_latency: float, outside_latency: float,
                         xray_sampled: float, platform_log_bytes: int) -> dict[str, float]:
    p = PRICES
    seconds = _lambda_seconds(t, per, aws_latency, outside_latency)
    invocations = t.invocations / per
    cost = {
        "api": p["http_api_per_million"],
        "lambda": invocations * p["lambda_requests_per_million"]
        + seconds * p["lambda_memory_gb"] * p["lambda_arm_gb_second"] * 1e6,
        "dynamodb": (t.wru / per) * p["dynamodb_wru_per_million"] + (t.rru / per) * p["dynamodb_rru_per_million"],
        "sqs": t.service_requests("sqs") / per * p["sqs_per_million"],
        "secrets": t.service_requests("secrets-manager") / per * p["secrets_per_10k"] * 100,
        "s3": (t.ledger_puts + t.service_requests("s3")) / per * p["s3_put_per_1k"] * 1000,
        "logs": (t.log_bytes / per + invocations * platform_log_bytes) * 1e6 / 1e9 * p["logs_ingest_per_gb"],
        "xray": invocations * xray_sampled * p["xray_traces_per_million"],
    }
    cost["total"] = sum(cost.values())
    return cost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="callbacks of each kind (default 20)")
    parser.add_argument("--trace", action="store_true",
                        help="list every DynamoDB request of one callback of each kind, with the code that made it")
    parser.add_argument("--only", default="", help="only the kinds whose name contains this text")
    parser.add_argument("--aws-latency-ms", type=float, default=5.0,
                        help="production latency of one DynamoDB/SQS request, replacing moto's (default 5)")
    parser.add_argument("--outside-latency-ms", type=float, default=50.0,
                        help="production latency of one JST or 店+ call (default 50)")
    system_log_level, tracing = template_defaults()
    parser.add_argument("--system-log-level", choices=sorted(PLATFORM_LOG_BYTES_AT), default=system_log_level,
                        help=f"Lambda's own log lines priced (default {system_log_level}: template.yaml's)")
    parser.add_argument("--tracing", choices=("Active", "PassThrough"), default=tracing,
                        help=f"X-Ray mode priced (default {tracing}: template.yaml's TracingMode)")
    parser.add_argument("--per-second", type=float, default=1.0,
                        help="with --tracing Active: invocations a second of one function, which sets the share "
                             "X-Ray records (1 a second, then 5 %%; default 1: all of them)")
    parser.add_argument("--xray-sampled", type=float, default=None,
                        help="share of invocations X-Ray records, instead of the one --tracing and --per-second give")
    args = parser.parse_args(argv)
    if args.xray_sampled is None:
        args.xray_sampled = xray_share(args.tracing, args.per_second)
    platform_log_bytes = PLATFORM_LOG_BYTES_AT[args.system_log_level]
    latency, outside_latency = args.aws_latency_ms / 1000, args.outside_latency_ms / 1000

    from stack_world import demo_world  # tests/integration: the demo tenant against both sandboxes
    from stack_world import cloud_warehouse_tenant  # and the demo's cloud-warehouse tenant, its 奇门 WMS sandbox
    from o2o_bridge import runtime

    from o2o_bridge.ledger import is_fact_object

    stdout = StdoutMeter()
    clock = HandlerClock()
    keep_runtime_warm()
    with tempfile.TemporaryDirectory() as tmp, demo_world(Path(tmp), jst_callbacks=True) as (stack, jst, store), \
            cloud_warehouse_tenant(stack, jst, store, Path(tmp)) as wms:
        ledger_dir = Path(stack.environment["O2O_LEDGER_DIR"])

        def outside_calls() -> int:
            with store.state.lock:  # the 店+ sandbox logs each API call it served
                served = len(store.state.requests)
            return len(jst.calls()) + served

        def ledger_facts() -> int:  # the ledger writer's objects (and any single fact's): one S3 PUT each
            return sum(1 for path in ledger_dir.rglob("*") if is_fact_object(path.name))

        kinds = [k for k in callback_kinds(jst, store, warehouse_skus(jst),
                                           settle=lambda: stack.drain(now=True, max_seconds=60)) if args.only in k.name]
        settle = lambda: stack.drain(now=True, max_seconds=60)  # noqa: E731
        # S1 store events (an outbound polled and dispatched first) and the 奇门 WMS's calls (tenant 10020)
        kinds += [k for k in s1_kinds(jst, store, poll=lambda: stack.invoke("poll_jst_outbound", {"ent_id": "10010"}),
                                      settle=settle) + qimen_kinds(wms, store, settle=settle) if args.only in k.name]
        meter = AwsMeter()
        runtime.reset()  # the bridge's clients are built again, on the metered session

        # The ledger writer's event source, held until every kind has run (see above).
        import dataclasses

        from o2o_local.aws_clients import local_client

        writer = stack.template.functions["ledger_writer"]
        writer_sources = list(writer.sqs_sources)
        writer.sqs_sources = [dataclasses.replace(source, enabled=False) for source in writer_sources]
        watcher = local_client("sqs", stack.endpoint_url)  # its own session: not metered
        ledger_queue = watcher.get_queue_url(QueueName=stack.template.queues["LedgerQueue"].local_queue_name())["QueueUrl"]

        def queued_facts() -> int:
            counts = watcher.get_queue_attributes(QueueUrl=ledger_queue, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            return int(counts["ApproximateNumberOfMessages"]) + int(counts["ApproximateNumberOfMessagesNotVisible"])

        def batch(send: Callable[[int], Any], prepare: Callable[[int], Any], numbers: range,
                  deferred: Callable[[], Any] | None = None) -> Tally:
            """Set the scene (not counted), send the callbacks one after another, then run the work
            they queued (coalesced flushes, retries; ``deferred``: what they left to a scheduled
            run) once: what the queue does for several callbacks is shared by them."""
            for i in numbers:
                prepare(i)
            meter.take()
            clock.take()
            logged, seconds, called, facts = stdout.bytes, 0.0, outside_calls(), ledger_facts()
            sent = queued_facts()
            for i in numbers:
                if meter.trace is not None:
                    meter.trace.clear()  # traced: the last callback of the batch (warm) and its queued work
                started = time.perf_counter()
                accepted(send(i))
                seconds += time.perf_counter() - started
            started = time.perf_counter()
            stack.drain(now=True, max_seconds=60)
            if deferred is not None:
                deferred()
            seconds += time.perf_counter() - started
            tally = meter.take()
            tally.seconds, tally.log_bytes = seconds, stdout.bytes - logged
            tally.cpu_seconds, tally.invocations = clock.take()
            tally.outside_calls, tally.ledger_puts = outside_calls() - called, ledger_facts() - facts
            tally.ledger_facts_sent = queued_facts() - sent  # type: ignore[attr-defined]
            return tally

        def none(i: int) -> None:
            return None

        rows = []
        traces: list[tuple[str, str, list[str]]] = []
        real_stdout = sys.stdout
        try:
            sys.stdout = stdout
            for kind in kinds:
                batch(kind.send, kind.prepare, range(0, 1), kind.deferred), batch(kind.again, none, range(0, 1))  # warm-up
                _meter_stdout(stdout)
                if args.trace:
                    meter.trace = []
                    batch(kind.send, kind.prepare, range(1000, 1002), kind.deferred)
                    traces.append((kind.name, "happy", meter.trace))
                    meter.trace = []
                    batch(kind.again, none, range(1000, 1002))
                    traces.append((kind.name, "duplicate", meter.trace))
                    meter.trace = None
                numbers = range(1, args.n + 1)
                rows.append((kind.name, batch(kind.send, kind.prepare, numbers, kind.deferred),
                             batch(kind.again, none, numbers)))
            # The ledger writer, once, over the facts of every kind; its share per fact.
            writer.sqs_sources = writer_sources
            in_queue = queued_facts()
            meter.take()
            clock.take()
            logged, objects = stdout.bytes, ledger_facts()
            stack.drain(now=True, max_seconds=600)
            stored = meter.take()
            stored.log_bytes, stored.ledger_puts = stdout.bytes - logged, ledger_facts() - objects
            stored.cpu_seconds, stored.invocations = clock.take()
        finally:
            sys.stdout = real_stdout
            writer.sqs_sources = writer_sources
        per_fact = 1 / max(in_queue, 1)
        for _, happy, duplicate in rows:
            for tally in (happy, duplicate):
                share = tally.ledger_facts_sent * per_fact
                tally.ledger_puts += stored.ledger_puts * share
                tally.cpu_seconds += stored.cpu_seconds * share
                tally.invocations += stored.invocations * share
                tally.log_bytes += stored.log_bytes * share
                for op, count in stored.requests.items():
                    tally.requests[op] += count * share
        writer_line = (f"ledger_writer, run once at the end: {in_queue} facts queued by every kind (and the scenes "
                       f"set for them) stored in {stored.ledger_puts} object(s) = S3 PUTs by {stored.invocations} "
                       f"invocation(s), {stored.cpu_seconds * 1000:.0f} ms CPU, {stored.log_bytes} log bytes: "
                       f"{stored.ledger_puts * per_fact:.4f} PUT per fact, shared out by each kind's facts sent")

    n = args.n
    for kind, path, lines in traces:
        print(f"{kind}, {path}: {len(lines)} DynamoDB request(s)")
        print("\n".join(lines))
    print(f"Per callback: {n} of each kind after a warm-up, then the work they queued, run once "
          f"(duplicates: the same push or event again).")
    print(f"Goals: DynamoDB requests <= {GOAL_DDB_HAPPY} happy / <= {GOAL_DDB_DUPLICATE} duplicate; "
          f"<= ${GOAL_DOLLARS:.2f} per 1 M callbacks.\n")
    header = (f"{'callback':38} {'DDB req':>7} {'of RL':>5} {'dup':>5} {'WRU':>5} {'RRU':>5} {'SQS':>4} {'S3':>4} "
              f"{'out':>4} {'log B':>6} {'local ms':>8} {'cpu ms':>6} {'est ms':>6} {'$/1M':>6} {'DDB $':>6} "
              f"{'dup $':>6}")
    print(header)
    print("-" * len(header))
    for kind, happy, duplicate in rows:
        cost = _dollars_per_million(happy, n, latency, outside_latency, args.xray_sampled,
                                    platform_log_bytes)
        dup_cost = _dollars_per_million(duplicate, n, latency, outside_latency, args.xray_sampled,
                                    platform_log_bytes)
        print(f"{kind:38} {happy.ddb_requests() / n:7.2f} {happy.rate_limiter / n:5.2f} "
              f"{duplicate.ddb_requests() / n:5.2f} {happy.wru / n:5.1f} "
              f"{happy.rru / n:5.1f} {happy.service_requests('sqs') / n:4.1f} "
              f"{(happy.ledger_puts + happy.service_requests('s3')) / n:4.1f} {happy.outside_calls / n:4.1f} "
              f"{happy.log_bytes / n:6.0f} {happy.seconds / n * 1000:8.1f} {happy.cpu_seconds / n * 1000:6.1f} "
              f"{_lambda_seconds(happy, n, latency, outside_latency) * 1000:6.1f} "
              f"{cost['total']:6.2f} {cost['dynamodb']:6.2f} {dup_cost['total']:6.2f}")
    print("\n'of RL': of the happy path's DynamoDB requests, those of the JST app's shared rate limiter "
          "(connectors/pacing.py: one conditional write per JST call). 'S3': S3 PUTs, the ledger writer's objects (one per tenant and day of a "
          "batch of the ledger queue) shared by the callbacks whose facts they hold; the facts themselves are SQS sends. "
          "'out': calls the JST and 店+ sandboxes received.")
    print("\n" + writer_line)
    print("Ledger facts sent per callback (happy path): " + ", ".join(
        f"{kind} {happy.ledger_facts_sent / n:.2f}" for kind, happy, _ in rows if happy.ledger_facts_sent))
    print("\nAWS requests by operation (happy path, per callback):")
    for kind, happy, _ in rows:
        ops = ", ".join(f"{op} {count / n:.2f}" for op, count in sorted(happy.requests.items()))
        print(f"  {kind}: {ops or 'none'}")
    print("\n$ per 1 M callbacks by part (happy path):")
    for kind, happy, _ in rows:
        cost = _dollars_per_million(happy, n, latency, outside_latency, args.xray_sampled,
                                    platform_log_bytes)
        print(f"  {kind}: " + ", ".join(f"{part} {value:.2f}" for part, value in cost.items() if part != "total"))
    print("\nPrices used (USD): " + ", ".join(f"{k} {v}" for k, v in PRICES.items()))
    print(f"$/1M = HTTP API + Lambda (requests + GB-s at 'est ms') + DynamoDB (estimated units) + SQS + Secrets "
          f"Manager + S3 (the ledger writer's objects) + log ingestion (the function's lines + {platform_log_bytes} B of Lambda's own "
          f"per invocation, SystemLogLevel {args.system_log_level}) + X-Ray (Tracing {args.tracing}: "
          f"{args.xray_sampled:.0%} of invocations recorded"
          + (f" at {args.per_second:g} a second" if args.tracing == "Active" else "") + ").")
    print(f"'est ms' = the handlers' CPU time here ('cpu ms') / {CPU_SHARE:.2f} (a 512 MB function's share of a vCPU) "
          f"+ {args.aws_latency_ms:g} ms per AWS request + {args.outside_latency_ms:g} ms per JST / 店+ call. "
          "'local ms' is the senders' wall time on this machine: mostly the emulator, the sandbox sending the event "
          "and the moto server, which a Lambda does not pay for. X-Ray's own CPU is not in 'cpu ms' (tracing is off "
          "outside Lambda).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
