"""`o2o route simulate IO_ID --tenant ENT_ID [--json]`: what S1 routing would decide now.

Runs the routing of an outbound (one the bridge knows, or one read from JST) against the
stores as they are now (regions, capacity, what they said they are out of, stock from 店+ minus
what other dispatched orders hold there) and prints each store's verdict. Nothing is
dispatched, held or counted.
"""

from __future__ import annotations


def register(commands) -> None:
    from ._output import add_json_flag

    route = commands.add_parser("route", help="S1 routing without dispatching")
    sub = route.add_subparsers(dest="route_command", required=True, metavar="ACTION")
    simulate = sub.add_parser("simulate", help="what routing would decide now for an outbound, store by store")
    simulate.add_argument("io_id", help="the JST sales outbound io_id")
    simulate.add_argument("--tenant", required=True, metavar="ENT_ID")
    add_json_flag(simulate)
    simulate.set_defaults(run=simulate_route)


def simulate_route(args) -> int:
    from o2o_bridge import wiring
    from o2o_bridge.flows import healing

    from ._output import echo, echo_json
    from .exceptions import _tenants

    [tenant] = _tenants(args.tenant)
    answer = healing.simulate(wiring.context_for(tenant), args.io_id)
    if args.json:
        echo_json(answer)
        return 0
    echo(f"outbound {answer['io_id']} ({answer['status']}, {answer['delivery']}, {answer['region']}): "
          + ", ".join(f"{sku} x{qty}" for sku, qty in answer["items"].items()))
    for store in answer["stores"]:
        line = f"  {store['store']:<8} {store['verdict']:<14} {store.get('why', '')}"
        echo(line.rstrip())
        for sku, stock in (store.get("stock") or {}).items():
            echo(f"      {sku}: on hand {stock['on_hand']}, held by other orders {stock['held_by_others']}, "
                  f"needed {stock['needed']}")
    decided = answer["decision"]
    echo(f"=> {'store ' + decided if decided else 'no store'}: {answer['why']} (nothing was dispatched)")
    return 0
