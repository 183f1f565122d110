"""门店自提: the store the customer chose, and where a pickup may go when that store cannot serve it.

The ERP connector reads the chosen store off the outbound (for JST, which documents no such
field, from the field the tenant names in ``routing.pickup_store_field``, default
``pickup_store_code``). An outbound with a chosen store is a pickup at that store, with or
without the tenant's pickup label. The rules the guide's customers expect:

- a pickup only ever goes to a store with ``pickup: true`` (the chosen one, an alternative or
  the fallback store);
- the chosen store comes first; when it cannot serve the order (not a pickup store, full, out
  of stock, or it rejected the order) only pickup stores in the chosen store's ``city`` may take
  it, the fallback store included: a customer who chose a store in 上海 cannot be sent to 南京;
- when no store of that city is left the order becomes a "pickup rejected" exception for a
  person (who calls the customer), never a store in another city.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..tenant import Store, Tenant

PICKUP_REJECTED = "pickup_rejected"  # exception kind


def _city(name: str | None) -> str:
    from .routing import _place

    return _place(name)


def same_city(tenant: "Tenant", chosen_code: str, store: "Store") -> bool:
    """May ``store`` serve a pickup the customer booked at ``chosen_code``?"""
    if store.code == chosen_code:
        return True
    chosen = next((s for s in tenant.stores if s.code == chosen_code), None)
    if chosen is None or not chosen.city or not store.city:
        return False  # without cities the bridge cannot know: only the chosen store itself
    return _city(chosen.city) == _city(store.city)


def city_of(tenant: "Tenant", code: str) -> str:
    store = next((s for s in tenant.stores if s.code == code), None)
    return (store.city if store and store.city else None) or "its city (no city set for the store)"


__all__ = ["PICKUP_REJECTED", "city_of", "same_city"]
