"""`o2o trace KEY [--tenant ENT_ID]`: the timeline of one document."""

from __future__ import annotations

import json

from ._output import add_json_flag, echo, echo_json


def register(commands) -> None:
    trace = commands.add_parser("trace", help="every step, decision and error of one document")
    trace.add_argument("key", help="JST io_id / so_id / o_id, store order / return / 配货 / 退仓 doc no., a SKU id, "
                            "stock:<store or warehouse code>, stock-nightly:<run id>, or a retry id")
    trace.add_argument("--tenant", metavar="ENT_ID",
                       help="the tenant whose document it is (needed when several tenants use the key)")
    add_json_flag(trace)
    trace.set_defaults(run=show_trace)


def show_trace(args) -> int:
    from .. import runtime
    from ..connectors.aws.dynamodb_state import AmbiguousKey
    from ..errors import BadRequest
    from ..shanghai_time import SHANGHAI
    from . import NotFound
    from .environment import use_bridge_environment

    from ..connectors.qimen.ledger import DOCUMENT_KIND as QIMEN_DOCUMENT
    from ..flows.cash_on_delivery import COD_KIND
    from ..flows.store_fulfilment.order import ORDER_KIND as S1_ORDER_KIND
    from ..flows.warehouse_orders.ledger import DOCUMENT_KINDS

    use_bridge_environment()
    try:
        # S2's ledgers and a cloud WMS document's keep their confirmations' steps (kit.claim_document),
        # S1's orders their store events' and the COD records their collections': read with the rest.
        entries = runtime.state_store().entries(args.key, args.tenant,
                                                kept_on=(*DOCUMENT_KINDS, QIMEN_DOCUMENT, S1_ORDER_KIND, COD_KIND))
    except AmbiguousKey as exc:  # the operator must say which tenant: a usage error
        raise BadRequest(str(exc)) from None
    if not entries:
        raise NotFound(f"no timeline for {args.key!r}" + (f" at tenant {args.tenant}" if args.tenant else ""))
    if args.json:
        echo_json([{"at": entry.at.astimezone(SHANGHAI).isoformat(), "ent_id": entry.ent_id, "step": entry.step,
                    "level": entry.level, "detail": entry.detail} for entry in entries])
        return 0
    for entry in entries:
        detail = " ".join(f"{k}={json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v}" for k, v in entry.detail.items())
        # Operators and merchants count in Shanghai time; the zone is printed so nobody guesses.
        echo(f"{entry.at.astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S %Z} {entry.level.upper():7} [{entry.ent_id}] {entry.step}  {detail}".rstrip())
    return 0
