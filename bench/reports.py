"""The order-centre reports (o2o report) over a document ledger of 1 M rows, with DuckDB, before
and after the ledger's compaction.

1. Generates a ledger of ``--rows`` rows (default 1 000 000) for one tenant: ``--days`` days
   of ``--stores`` stores and ``--skus`` SKUs, with the mix of facts a store network makes
   (online orders dispatched and shipped or picked up, pickups rejected, expired or
   cancelled, retail sales and refunds, 配货 and 退仓, stock counts, COD collections). Rows come
   from the bridge's own code (ledger.Fact -> ledger.fact_message -> read_fact_message ->
   batch_objects), laid out as the ledger writer stores them: one JSON Lines object per batch of
   the ledger queue (``--batch`` facts, default 100: a quiet hour's batching window) under
   tenant=E/day=YYYY-MM-DD/, each row with its recorded_at.
2. Runs each report over the whole period, each in a fresh child process (a cold DuckDB, no
   cache from the previous report) - "before" (``--before`` picks which reports, since reading
   a third of a million small files is slow; ``--before none`` skips it).
3. Compacts every day with the bridge's own FileLedger.compact_day (what compact_ledger does
   each night) and prints the objects and bytes before and after, and the seconds it took.
4. Runs each report again over the compacted ledger - "after".

For each report run it prints:
   - seconds: the report query (the child's clock around the engine call) and the child's
     whole life (process start, imports, the query), measured by this process;
   - peak memory: the child's max RSS from os.wait4 (the kernel's count, read by this
     process, outside the query code), next to the same child doing everything but the query.
No assertions; the figures are the output.

Usage (from the repository root):

    .venv/bin/python bench/reports.py                  # 1 M rows
    .venv/bin/python bench/reports.py --rows 20000     # seconds
    .venv/bin/python bench/reports.py --ledger DIR     # keep / reuse the generated ledger
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TENANT = "10010"
SH = timezone(timedelta(hours=8))


def generate(root: Path, *, rows: int, days: int, stores: int, skus: int, seed: int = 18,
             batch_facts: int = 100) -> tuple[int, int, str, str]:
    """Write about ``rows`` ledger rows under ``root``; returns (rows, facts, first day, last day)."""
    from o2o_bridge.connectors.files.ledger import FileLedger
    from o2o_bridge.ledger import Fact, FactLine, batch_objects, fact_message, read_fact_message

    writer_store = FileLedger(root)
    queued: list = []

    def store_queued() -> None:  # as the ledger writer does with a batch of the queue
        for batch in batch_objects(queued):
            writer_store.put_batch(batch)
        queued.clear()

    rng = random.Random(seed)
    store_codes = [f"S{n:03d}" for n in range(1, stores + 1)]
    sku_ids = [f"SKU-{n:05d}" for n in range(1, skus + 1)]
    first = datetime(2026, 9, 1, tzinfo=SH)
    per_day = rows / days
    written = facts = 0
    io_id = 800000

    members = [f"{rng.getrandbits(128):032x}" for _ in range(2_000)]  # hashed identities, as the flows write

    def lines(count: int) -> tuple[FactLine, ...]:
        return tuple(FactLine(rng.choice(sku_ids), rng.randint(1, 3), Decimal(rng.randint(20, 400))) for _ in range(count))

    for day_no in range(days):
        day = first + timedelta(days=day_no)
        day_rows = 0
        while day_rows < per_day and written + day_rows < rows:
            at = day + timedelta(seconds=rng.randint(8 * 3600, 22 * 3600))
            store = rng.choice(store_codes)
            roll = rng.random()
            batch: list[Fact] = []
            if roll < 0.45:
                sold = lines(rng.randint(1, 3))
                batch.append(Fact(TENANT, "sale.completed", f"sale:{day_no}:{day_rows}", at, store_code=store,
                                  doc_no=f"X{day_no}-{day_rows}", payment=rng.choice(["cash", "wechat", "alipay"]),
                                  member_hash=rng.choice(members) if rng.random() < 0.6 else None, amount=sum(line.amount for line in sold), lines=sold))
            elif roll < 0.50:
                back = lines(1)
                batch.append(Fact(TENANT, "sale.refunded", f"refund:{day_no}:{day_rows}", at, store_code=store,
                                  doc_no=f"R{day_no}-{day_rows}", amount=back[0].amount, lines=back))
            elif roll < 0.90:
                io_id += 1
                delivery = "pickup" if rng.random() < 0.4 else "express"
                order = lines(rng.randint(1, 2))
                cod = sum(line.amount for line in order) if rng.random() < 0.15 else None
                common = dict(store_code=store, doc_no=f"FO{io_id}", io_id=str(io_id), so_id=f"SO{io_id}",
                              delivery=delivery, member_hash=rng.choice(members),
                              amount=sum(line.amount for line in order), lines=order)
                batch.append(Fact(TENANT, "fulfilment.dispatched", f"dispatched:{io_id}:0", at, **common))
                end = rng.random()
                later = at + timedelta(hours=rng.randint(1, 6))
                if end < 0.80:
                    how = "picked_up" if delivery == "pickup" else "shipped"
                    batch.append(Fact(TENANT, f"fulfilment.{how}", f"{how}:{io_id}", later, cod_amount=cod, **common))
                    if cod is not None and rng.random() < 0.9:
                        batch.append(Fact(TENANT, "cod.collected", f"cod:{io_id}", later, store_code=store,
                                          doc_no=str(io_id), io_id=str(io_id), payment="cash", amount=cod))
                elif end < 0.90:
                    batch.append(Fact(TENANT, "fulfilment.rejected", f"rejected:FO{io_id}", later,
                                      reason="out_of_stock", **common))
                elif end < 0.95 and delivery == "pickup":
                    batch.append(Fact(TENANT, "pickup.expired", f"expired:FO{io_id}", later, **common))
                else:
                    batch.append(Fact(TENANT, "fulfilment.cancelled", f"cancelled:FO{io_id}", later, **common))
            elif roll < 0.96:
                kind = "transfer.shipped" if rng.random() < 0.7 else "warehouse_return.received"
                batch.append(Fact(TENANT, kind, f"{kind}:{day_no}:{day_rows}", at, store_code=store,
                                  doc_no=f"T{day_no}-{day_rows}", lines=tuple(
                                      FactLine(rng.choice(sku_ids), rng.randint(5, 40)) for _ in range(rng.randint(3, 8)))))
            else:
                batch.append(Fact(TENANT, "stock.counted", f"count:{day_no}:{day_rows}", at, store_code=store,
                                  doc_no=f"K{day_no}-{day_rows}", lines=tuple(
                                      FactLine(rng.choice(sku_ids), rng.randint(0, 60)) for _ in range(5))))
            for fact in batch:
                # As a function sends it and the ledger writer reads it (SentTimestamp: its time).
                queued.append(read_fact_message(fact_message(fact), message_id=f"m{facts}",
                                                sent_ms=int(fact.at.timestamp() * 1000)))
                if len(queued) >= batch_facts:
                    store_queued()
                facts += 1
                day_rows += len(fact.lines) + 1
        store_queued()
        written += day_rows
    last = (first + timedelta(days=days - 1)).date().isoformat()
    return written, facts, first.date().isoformat(), last


CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from o2o_bridge.cli.order_centre.engines import DuckDbEngine, run_report
from o2o_bridge.cli.order_centre.reports import REPORTS
engine = DuckDbEngine({ledger!r}, threads={threads})
name = {name!r}
if name == "-":
    print(json.dumps({{"rows": 0, "seconds": 0.0}}))
else:
    started = time.perf_counter()
    names, rows = run_report(engine, REPORTS[name], {tenant!r}, {day_from!r}, {day_to!r})
    print(json.dumps({{"rows": len(rows), "seconds": time.perf_counter() - started}}))
"""


def run_child(ledger: Path, name: str, day_from: str, day_to: str, threads: int) -> dict[str, float]:
    code = CHILD.format(root=str(ROOT), ledger=str(ledger), threads=threads, name=name, tenant=TENANT,
                        day_from=day_from, day_to=day_to)
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=ROOT)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"report {name} failed (exit {child.returncode})")
    try:
        answer = json.loads(out.decode().strip().splitlines()[-1])
    except ValueError:
        raise SystemExit(f"report {name}: unreadable answer {out[-300:]!r}") from None
    return {"rows": answer["rows"], "query_seconds": answer["seconds"], "process_seconds": wall,
            "peak_mb": usage.ru_maxrss / 1024}


def ledger_size(ledger: Path) -> tuple[int, int]:
    files = [p for p in ledger.rglob("*") if p.is_file() and not p.name.startswith(".")]
    return len(files), sum(p.stat().st_size for p in files)


def run_reports(ledger: Path, names: list[str], day_from: str, day_to: str, threads: int, title: str) -> None:
    baseline = run_child(ledger, "-", day_from, day_to, threads)
    print(f"\n{title}: DuckDB {threads} thread(s); a child that opens the ledger and runs no query: "
          f"{baseline['process_seconds']:.2f} s, peak {baseline['peak_mb']:.0f} MB")
    print(f"{'report':<18}{'result rows':>12}{'query s':>10}{'process s':>11}{'peak MB':>9}")
    for name in names:
        figures = run_child(ledger, name, day_from, day_to, threads)
        print(f"{name:<18}{figures['rows']:>12,}{figures['query_seconds']:>10.2f}{figures['process_seconds']:>11.2f}"
              f"{figures['peak_mb']:>9.0f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--skus", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=100, help="facts per ledger writer batch (default 100)")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (this machine has 2 cores)")
    parser.add_argument("--ledger", type=Path, help="generate here (or reuse what is there)")
    parser.add_argument("--before", default="pickup-summary,daily-retail",
                        help="reports to run before compaction: comma-separated, 'all' or 'none'")
    parser.add_argument("--before-days", type=int, default=2,
                        help="the reports before compaction read this many days (every object is a file to "
                             "open: the whole period would take DuckDB tens of minutes); the same days are "
                             "read again after it, for the comparison")
    args = parser.parse_args(argv)

    from o2o_bridge.cli.order_centre.reports import REPORTS
    from o2o_bridge.connectors.files.ledger import FileLedger

    ledger = args.ledger or Path(tempfile.mkdtemp(prefix="o2o-bench-ledger-"))
    days = sorted(p.name[4:] for p in ledger.glob(f"tenant={TENANT}/day=*"))
    if days:
        day_from, day_to = days[0], days[-1]
        print(f"reusing the ledger in {ledger} ({len(days)} days)")
    else:
        started = time.perf_counter()
        rows, facts, day_from, day_to = generate(ledger, rows=args.rows, days=args.days, stores=args.stores,
                                                 skus=args.skus, batch_facts=args.batch)
        days = sorted(p.name[4:] for p in ledger.glob(f"tenant={TENANT}/day=*"))
        print(f"generated {rows:,} ledger rows ({facts:,} facts) in {ledger} in {time.perf_counter() - started:.1f} s: "
              f"{args.days} days, {args.stores} stores, {args.skus} SKUs")
    before = list(REPORTS) if args.before == "all" else [] if args.before == "none" else args.before.split(",")
    objects, size = ledger_size(ledger)
    slice_to = days[min(args.before_days, len(days)) - 1]
    in_slice = sum(1 for day in days[:args.before_days] for p in (ledger / f"tenant={TENANT}" / f"day={day}").iterdir())
    from o2o_bridge.ledger import is_fact_object

    loose = any(is_fact_object(p.name) for p in ledger.glob(f"tenant={TENANT}/day=*/*.jsonl"))
    if before and loose:  # a reused ledger may be compacted already
        run_reports(ledger, before, day_from, slice_to, args.threads,
                    f"BEFORE compaction, {day_from}..{slice_to} ({in_slice:,} objects of {objects:,}, "
                    f"{size / 1e6:,.0f} MB in all)")
    files = FileLedger(ledger)
    started = time.perf_counter()
    merged = sum(files.compact_day(TENANT, day).merged_objects for day in days)
    seconds = time.perf_counter() - started
    after_objects, after_size = ledger_size(ledger)
    print(f"\ncompaction (FileLedger.compact_day, {len(days)} days): {merged:,} objects merged in {seconds:.1f} s; "
          f"{objects:,} objects / {size / 1e6:,.0f} MB before, {after_objects:,} objects / {after_size / 1e6:,.1f} MB "
          "after (one plain JSON Lines object per day, as the local stack's compaction writes it)")
    if before:
        run_reports(ledger, before, day_from, slice_to, args.threads,
                    f"AFTER compaction, the same {day_from}..{slice_to}")
    run_reports(ledger, list(REPORTS), day_from, day_to, args.threads,
                f"AFTER compaction, the whole period {day_from}..{day_to} ({after_objects:,} objects, "
                f"{after_size / 1e6:,.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
