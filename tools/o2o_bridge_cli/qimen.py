"""`o2o qimen call METHOD [XML_FILE] --tenant ENT_ID`: one signed 奇门 call with the tenant's
app (the shared rate limit included); prints the gateway's answer as it came.

`o2o qimen catch-up [CODE ...] --tenant ENT_ID`: the catch-up of lost confirms now, for the named
documents or every open one, whatever their quiet time; prints what it asked and took (JSON),
exit 1 when a question failed or an answer was parked.

The body is the file's bytes exactly (``-`` reads standard input; no file sends an empty
``<request/>``), so what is signed is what the file holds. METHOD may be short
(``inventory.query``) or full (``taobao.qimen.inventory.query``). Exit 0 when the answer's
flag is ``success``, 1 when the gateway or the WMS refused (the reason on stderr) or the
tenant is not stored. ``--json`` prints the answer as one JSON document instead of its XML:
``{"method", "http_status", "root", "answer"}`` (``answer``: the parsed document, or the text
when it could not be read)."""

from __future__ import annotations

import sys
from pathlib import Path

from ._output import add_json_flag, echo_json, result_stream

EMPTY_REQUEST = b'<?xml version="1.0" encoding="utf-8"?><request></request>'


def register(commands) -> None:
    qimen = commands.add_parser("qimen", help="talk to a cloud warehouse over 奇门 with a tenant's app")
    sub = qimen.add_subparsers(dest="qimen_command", required=True, metavar="ACTION")
    call = sub.add_parser("call", help="one signed 奇门 call; prints the XML answer")
    call.add_argument("method", help="e.g. inventory.query or taobao.qimen.deliveryorder.query")
    call.add_argument("xml_file", nargs="?", help="the <request> document to send as it is (- for stdin)")
    call.add_argument("--tenant", required=True)
    add_json_flag(call)
    call.set_defaults(run=qimen_call)
    catch_up = sub.add_parser("catch-up", help="ask the WMS now for open documents whose confirm may be lost")
    catch_up.add_argument("documents", nargs="*", metavar="CODE",
                          help="the store order / 配货 / 退仓 / return nos. to ask for (default: every open one)")
    catch_up.add_argument("--tenant", required=True)
    catch_up.set_defaults(run=qimen_catch_up)


def qimen_catch_up(args) -> int:
    """What the 10/15-minute document runs do after ``catch_up_after_minutes`` of quiet, now (e.g.
    after the callback route was down): what the WMS holds and the bridge lacks is taken once."""
    from .. import wiring
    from ..flows import cloud_warehouse
    from .tenant import stored_tenant

    tenant = stored_tenant(args.tenant)  # not stored: exit 1 with one line
    if tenant.warehouse != "qimen" or tenant.qimen is None:
        print(f"o2o: tenant {args.tenant} has no cloud warehouse (warehouse: qimen)", file=sys.stderr)
        return 2
    summary = cloud_warehouse.catch_up_confirmations(wiring.context_for(tenant), now_for=list(args.documents))
    echo_json(summary)
    return 1 if summary and (summary.get("failed") or summary.get("parked")) else 0


def qimen_call(args) -> int:
    from ..connectors.qimen.client import full_method
    from ..connectors.qimen.factory import qimen_for_tenant
    from ..errors import BridgeError

    if args.xml_file == "-":
        body = sys.stdin.buffer.read()
    elif args.xml_file:
        path = Path(args.xml_file)
        if not path.is_file():
            print(f"o2o: no file {args.xml_file}", file=sys.stderr)
            return 2
        body = path.read_bytes()
    else:
        body = EMPTY_REQUEST
    from .tenant import stored_tenant

    tenant = stored_tenant(args.tenant)  # not stored: exit 1 with one line
    if tenant.qimen is None:
        print(f"o2o: tenant {args.tenant} has no qimen section", file=sys.stderr)
        return 2
    client = qimen_for_tenant(tenant)
    method = full_method(args.method)
    answer = client.post(method, body)
    if args.json:
        echo_json({"method": method, "http_status": answer.status, "root": answer.root,
                   "answer": answer.document if answer.document is not None else answer.text})
    else:
        out = result_stream()  # the answer is the command's result; messages go to stderr
        out.write(answer.text)
        if not answer.text.endswith("\n"):
            out.write("\n")
    try:
        client.judge(method, answer)
    except BridgeError as error:
        print(f"o2o: {error.message}", file=sys.stderr)
        return 1
    return 0
