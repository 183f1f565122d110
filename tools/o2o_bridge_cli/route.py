"""`o2o route simulate IO_ID --tenant ENT_ID [--json]`: what S1 routing would decide now.

Runs the routing of an outbound (one the bridge knows, or one read from JST) against the
stores as they are now (regions, capacity, what they said they are out of, stock from 店+ minus
what other dispatched orders hold there) and prints each store's verdict. Nothing is
dispatched, held or counted.
"""

from __future__ import annotations

import json


def register(commands) -> None:
    route = commands.add_parser("route", help="S1 routing without dispatching")
    sub = route.add_subparsers(dest="route_command", required=True, metavar="ACTION")
    simulate = sub.add_parser("simulate", help="what routing would decide now for an outbound, store by store")
    simulate.add_argument("io_id", help="the JST sales outbound io_id")
    simulate.add_argument("--tenant", required=True, metavar="ENT_ID")
    simulate.add_argument("--json", action="store_true", help="the answer as one JSON object")
    simulate.set_defaults(run=simulate_route)


def simulate_route(args) -> int:
    from o2o_bridge.flows import healing, kit

    from .exceptions import _tenants

    [tenant] = _tenants(args.tenant)
    answer = healing.simulate(kit.context_for(tenant), args.io_id)
    if args.json:
        print(json.dumps(answer, ensure_ascii=False))
        return 0
    print(f"outbound {answer['io_id']} ({answer['status']}, {answer['delivery']}, {answer['region']}): "
          + ", ".join(f"{sku} x{qty}" for sku, qty in answer["items"].items()))
    for store in answer["stores"]:
        line = f"  {store['store']:<8} {store['verdict']:<14} {store.get('why', '')}"
        print(line.rstrip())
        for sku, stock in (store.get("stock") or {}).items():
            print(f"      {sku}: on hand {stock['on_hand']}, held by other orders {stock['held_by_others']}, "
                  f"needed {stock['needed']}")
    decided = answer["decision"]
    print(f"=> {'store ' + decided if decided else 'no store'}: {answer['why']} (nothing was dispatched)")
    return 0
