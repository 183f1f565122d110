"""What may land in 店加线下仓 (the JST warehouse the stores' stock is pushed into).

The implementation guide's 派单策略 rule: JST's 订单分配策略 must never assign orders of the
tenant's 自有商城 shop to 店加线下仓. Those orders are the stores' own micro-mall orders that
the stores could not serve and sent to JST for a warehouse to ship; routing them back to a
store would loop (the store that gave the order up would be asked to fulfil it). JST's
assignment rules cannot be read through its API, so the bridge refuses such an outbound when
it sees one: the order is parked for a person (who fixes the rule and re-assigns the order to
a warehouse in JST), never sent to a store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..tenant import Tenant

SELF_MALL_ORDER = "self_mall_order"  # exception kind


def self_mall_refusal(tenant: "Tenant", shop_id: Any) -> str | None:
    """Why an outbound of ``shop_id`` found in 店加线下仓 must not go to a store (None: it may)."""
    if shop_id is None or str(shop_id) != str(tenant.jushuitan.self_mall_shop_id):
        return None
    return (f"outbound of the 自有商城 shop {tenant.jushuitan.self_mall_shop_id} was assigned to 店加线下仓 "
            f"({tenant.jushuitan.offline_wms_co_id}): it is a store order sent to JST for a warehouse, so no store "
            "may fulfil it. Fix JST's 订单分配策略 (the 自有商城 shop must not be assigned to 店加线下仓) and "
            "re-assign this order to a warehouse in JST")


__all__ = ["SELF_MALL_ORDER", "self_mall_refusal"]
