"""`o2o tenant doctor` for the ``qimen`` section: the tenant file checked against the WMS.

One probe, ``inventory.query`` for the tenant's warehouse and owner, tells whether the
gateway accepts the app (key, secret, customerId) and whether the WMS knows the warehouse
and the owner; one question per catch-up query in use (``deliveryorder.query``,
``entryorder.query``, for a document no WMS holds) whether the WMS takes it; the carriers are
checked against 奇门's logistics codes. Each check says in one line why it failed.
"""

from __future__ import annotations

from typing import Any

from ...errors import BridgeError
from ..jushuitan.doctor import Check
from . import models as qm
from .errors import QimenAuthError, QimenError

# 奇门's standard logistics codes (the SDK's logisticsCode comment); OTHER for any other carrier.
STANDARD_CARRIERS = frozenset({"SF", "EMS", "EYB", "ZJS", "YTO", "ZTO", "HTKY", "UC", "STO", "TTKDEX", "QFKD", "FAST",
                               "POSTB", "GTO", "YUNDA", "JD", "DD", "AMAZON", "OTHER"})
PROBE_ITEM = "O2O-DOCTOR-PROBE"


def check_qimen(tenant: Any, client: Any, secrets: Any) -> list[Check]:
    section = tenant.qimen
    checks: list[Check] = []
    if tenant.warehouse != "qimen":
        checks.append(Check("奇门 in use", False, "the tenant has a qimen section but warehouse is "
                                                  f"{tenant.warehouse!r}: set warehouse: qimen to use the cloud WMS"))
    secret_ok = bool(section.reveal("app_secret", secrets)) if section.secret_source("app_secret") else False
    probe_error: BridgeError | None = None
    if secret_ok:
        try:
            client.call("inventory.query", qm.InventoryQuery(criteria_list=[qm.Criteria(
                warehouse_code=section.warehouse_code, owner_code=section.owner_code, item_code=PROBE_ITEM)]))
        except BridgeError as exc:
            probe_error = exc
    code = getattr(probe_error, "code", None) or ""
    if not secret_ok:
        checks.append(Check("奇门 credentials", False, "app_secret is empty or its reference cannot be read"))
    elif isinstance(probe_error, QimenAuthError) or code in ("invalid-customer", "invalid-customer-id"):
        checks.append(Check("奇门 credentials", False, f"the gateway refused app {section.app_key} / customerId "
                                                      f"{section.customer_id}: {probe_error.message}"))
    elif probe_error is not None and not isinstance(probe_error, QimenError):
        checks.append(Check("奇门 credentials", False, f"no answer from {section.gateway_url}: {probe_error.message}"))
    elif probe_error is not None and probe_error.retryable:
        checks.append(Check("奇门 credentials", False, f"the gateway or the WMS is not answering now: {probe_error.message}"))
    else:
        checks.append(Check("奇门 credentials", True, f"app {section.app_key} and customerId {section.customer_id} "
                                                     f"accepted by {section.gateway_url}"))
        if probe_error is None:
            checks.append(Check("WMS warehouse and owner", True, f"warehouse {section.warehouse_code} and owner "
                                                                  f"{section.owner_code} known to the WMS"))
            checks.append(_catch_up_queries(section, client))
        else:
            checks.append(Check("WMS warehouse and owner", False, f"the WMS refused a stock query for warehouse "
                                                                   f"{section.warehouse_code} / owner {section.owner_code}: "
                                                                   f"{probe_error.message}"))
    if not section.logistics:
        checks.append(Check("carriers mapped", False, "qimen.logistics is empty: no parcel the WMS ships can be "
                                                      "shown at the store with its carrier"))
    else:
        unknown = sorted({c.qimen_code for c in section.logistics} - STANDARD_CARRIERS)
        mapped = ", ".join(f"{c.qimen_code}→{c.pos_code}" for c in section.logistics)
        if unknown:
            checks.append(Check("carriers mapped", False, f"{', '.join(unknown)} not 奇门 logistics codes "
                                                          f"(use OTHER for another carrier); mapped: {mapped}"))
        else:
            checks.append(Check("carriers mapped", True, mapped))
    return checks


# How a WMS (or the gateway) says it does not take a method at all.
UNSUPPORTED_METHOD_CODES = frozenset({"invalid-method", "isv.invalid-method", "isv.method-not-exist", "22"})


def _catch_up_queries(section: Any, client: Any) -> Check:
    """Each query the catch-up asks (``qimen.catch_up_queries``), asked once for a document no WMS
    holds: "not found" means the WMS takes the query; a WMS that does not take it cannot help find
    a lost confirm, and the kinds that use it should be turned off (or the query agreed)."""
    kinds_of: dict[str, list[str]] = {}
    for kind in ("delivery", "stockout", "entry", "return"):
        method = section.catch_up_query(kind).method
        if method != "off":
            kinds_of.setdefault(method, []).append(kind)
    if not kinds_of:
        return Check("catch-up queries", True, "every kind is off: a lost confirm waits for the WMS's re-send",
                     warning=True)
    refused: list[str] = []
    for method, kinds in kinds_of.items():
        request: Any = (qm.DeliveryOrderQuery(owner_code=section.owner_code, warehouse_code=section.warehouse_code,
                                              order_code=PROBE_ITEM, page_size=1)
                        if method == "deliveryorder.query" else
                        qm.EntryOrderQuery(owner_code=section.owner_code, warehouse_code=section.warehouse_code,
                                           entry_order_code=PROBE_ITEM, page_size=1))
        try:
            client.call(method, request)
        except BridgeError as exc:  # "not found" is the expected answer; unreachable: the credentials check says so
            if isinstance(exc, QimenError) and (exc.code or "") in UNSUPPORTED_METHOD_CODES:
                refused.append(f"{method} ({', '.join(kinds)}): {exc.message}")
    asked = "; ".join(f"{method} for {', '.join(kinds)}" for method, kinds in kinds_of.items())
    if refused:
        return Check("catch-up queries", False, "the WMS does not take " + "; ".join(refused) + ": a lost confirm of "
                     "those kinds cannot be found; agree the query with the WMS, or set "
                     "qimen.catch_up_queries.<kind>.method: off")
    return Check("catch-up queries", True, f"the WMS takes {asked}")
