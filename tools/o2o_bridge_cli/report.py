"""`o2o report NAME --tenant E --from D --to D [--store S] [--format table|csv|xlsx|html]`.

The order-centre reports over the document ledger (docs/order-centre.md): pickup-summary,
pickup-documents, stock-ledger, daily-retail, store-inout, cod. Days are Asia/Shanghai
business days, both ends included.

Where the ledger is read: ``--ledger-dir`` or ``O2O_LEDGER_DIR`` (files, DuckDB); the local
stack's ledger when ``AWS_ENDPOINT_URL`` points at one (DuckDB); the deployed stack named by
``O2O_STACK`` (Athena, in the stack's workgroup).
"""

from __future__ import annotations

import os
from pathlib import Path


def register(commands) -> None:
    from ._output import add_json_flag
    from .order_centre.reports import REPORTS

    report = commands.add_parser("report", help="order-centre reports over the document ledger "
                                                "(pickups, stock, retail, COD)",
                                 description="\n".join(f"{r.name}: {r.description}" for r in REPORTS.values()))
    report.add_argument("name", choices=sorted(REPORTS), metavar="NAME", help=", ".join(REPORTS))
    report.add_argument("--tenant", required=True, metavar="ENT_ID")
    report.add_argument("--from", dest="day_from", required=True, metavar="YYYY-MM-DD", help="first day (Shanghai)")
    report.add_argument("--to", dest="day_to", required=True, metavar="YYYY-MM-DD", help="last day, included")
    report.add_argument("--store", metavar="CODE", help="only this store")
    report.add_argument("--format", choices=("table", "csv", "xlsx", "html"), default="table")
    report.add_argument("--output", "-o", metavar="FILE",
                        help="write here (xlsx and html default to NAME-TENANT-FROM-TO.xlsx/.html)")
    report.add_argument("--ledger-dir", metavar="DIR", help="read the ledger from these files (DuckDB)")
    add_json_flag(report)
    report.set_defaults(run=run_report_command)


def engine_for(ledger_dir: str | None):
    """The engine that reads this environment's ledger (see the module's docstring)."""
    from o2o_bridge.errors import ConfigurationError

    from ._ledger_options import ledger_files
    from .order_centre.engines import AthenaEngine, DuckDbEngine

    directory = ledger_files(ledger_dir)
    if directory:
        return DuckDbEngine(directory)
    if os.environ.get("O2O_STACK"):
        from o2o_bridge import runtime

        stack = os.environ["O2O_STACK"]
        try:
            described = runtime.aws_client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
        except Exception as exc:  # botocore's ClientError and connection errors alike
            raise ConfigurationError(f"cannot read stack {stack!r}: {exc}") from None
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        if not {"LedgerDatabaseName", "LedgerWorkgroupName"} <= set(outputs):
            raise ConfigurationError(f"stack {stack!r} has no ledger outputs: deploy a template with the ledger")
        return AthenaEngine(runtime.aws_client("athena"), database=outputs["LedgerDatabaseName"],
                            workgroup=outputs["LedgerWorkgroupName"])
    raise ConfigurationError("no ledger to read: give --ledger-dir, start `o2o local up` and export the "
                             "AWS_ENDPOINT_URL it prints, or set O2O_STACK to a deployed stack")


def run_report_command(args) -> int:
    from o2o_bridge.errors import BadRequest

    from ._output import echo, echo_json, result_stream
    from .order_centre.engines import run_report
    from .order_centre.render import Result, as_csv, as_html, as_table, as_xlsx
    from .order_centre.reports import REPORTS

    from ._ledger_options import day_option

    day_from, day_to = day_option(args.day_from, "--from"), day_option(args.day_to, "--to")
    if day_from > day_to:
        raise BadRequest(f"--from {day_from} is after --to {day_to}")
    report = REPORTS[args.name]
    names, rows = run_report(engine_for(args.ledger_dir), report, args.tenant, day_from, day_to, args.store)
    result = Result(report, args.tenant, day_from, day_to, args.store, names, rows)
    if args.json:
        echo_json(result.records())
        return 0
    if args.format in ("xlsx", "html"):
        target = Path(args.output or f"{report.name}-{args.tenant}-{day_from}-{day_to}.{args.format}")
        if args.format == "xlsx":
            target.write_bytes(as_xlsx(result))
        else:
            target.write_text(as_html(result), encoding="utf-8")
        echo(f"{report.title}: {len(rows)} row(s) written to {target}")
        return 0
    text = as_table(result) + "\n" if args.format == "table" else as_csv(result)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        result_stream().write(text)
    return 0
