"""`o2o trace KEY [--tenant ENT_ID]`: the timeline of one document of one tenant."""

from __future__ import annotations

import json
import sys


def register(commands) -> None:
    trace = commands.add_parser("trace", help="every step, decision and error of one document")
    trace.add_argument("key", help="JST io_id / so_id / o_id, store order / return / 配货 / 退仓 doc no., a SKU id, "
                            "stock:<store or warehouse code>, stock-nightly:<run id>, or a retry id")
    trace.add_argument("--tenant", metavar="ENT_ID",
                       help="the tenant whose document it is (needed when several tenants use the key)")
    trace.add_argument("--json", action="store_true", help="one JSON object per line")
    trace.set_defaults(run=show_trace)


def show_trace(args) -> int:
    from .. import runtime
    from ..connectors.aws.dynamodb_state import AmbiguousKey
    from .environment import use_bridge_environment

    use_bridge_environment()
    try:
        entries = runtime.state_store().entries(args.key, args.tenant)
    except AmbiguousKey as exc:
        print(f"o2o: {exc}", file=sys.stderr)
        return 2
    if not entries:
        print(f"no timeline for {args.key!r}" + (f" at tenant {args.tenant}" if args.tenant else ""))
        return 1
    for entry in entries:
        if args.json:
            print(json.dumps({"at": entry.at.isoformat(), "ent_id": entry.ent_id, "step": entry.step,
                              "level": entry.level, "detail": entry.detail}, ensure_ascii=False))
        else:
            detail = " ".join(f"{k}={json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v}" for k, v in entry.detail.items())
            print(f"{entry.at:%Y-%m-%d %H:%M:%S} {entry.level.upper():7} [{entry.ent_id}] {entry.step}  {detail}".rstrip())
    return 0
