"""`o2o tenant doctor`: the tenant file checked against what JST really has.

Each check is independent and says in one line why it failed, so an implementation
engineer can fix everything in one pass. JST calls that fail (permission, network) fail
only the checks that needed them.
"""

from __future__ import annotations

from typing import Any, Callable

from ...errors import BridgeError
from ..checks import Check, Lookups


def check_tenant(tenant: Any, jst: Any, secrets: Any) -> list[Check]:
    section = tenant.jushuitan
    lookups = Lookups()
    checks: list[Check] = []

    def run(name: str, body: Callable[[], str]) -> None:
        try:
            checks.append(Check(name, True, body()))
        except _Failed as failed:
            checks.append(Check(name, False, str(failed)))
        except BridgeError as exc:
            checks.append(Check(name, False, f"JST call failed: {exc.message}"))

    def credentials() -> str:
        for name in ("app_secret", "access_token", "refresh_token"):
            if section.secret_source(name) is not None:
                try:
                    if not section.reveal(name, secrets):
                        raise _Failed(f"jushuitan.{name} is empty")
                except BridgeError as exc:
                    raise _Failed(f"jushuitan.{name} cannot be read: {exc.message}") from None
        shops = lookups.get("shops", jst.query_shops)
        return f"signed call accepted by JST (app {section.app_key}; {len(shops)} shop(s) visible)"

    def warehouses() -> str:
        known = {w.wms_co_id: w for w in lookups.get("warehouses", jst.query_warehouses)}
        wanted = {"offline_wms_co_id": section.offline_wms_co_id, "main_wms_co_id": section.main_wms_co_id}
        if section.return_wms_co_id is not None:
            wanted["return_wms_co_id"] = section.return_wms_co_id
        missing = [f"{key}={value}" for key, value in wanted.items() if value not in known]
        if missing:
            raise _Failed(f"not among JST's {len(known)} warehouse(s): {', '.join(missing)}")
        return ", ".join(f"{key}={value} ({known[value].name or '?'})" for key, value in wanted.items())

    def self_mall_shop() -> str:
        shops = {s.shop_id: s for s in lookups.get("shops", jst.query_shops)}
        shop = shops.get(section.self_mall_shop_id)
        if shop is None:
            raise _Failed(f"shop {section.self_mall_shop_id} does not exist in JST")
        if not shop.is_self_mall:
            raise _Failed(f"shop {shop.shop_id} ({shop.shop_name}) is a {shop.shop_site or 'unknown'} shop, not 自有商城")
        return f"shop {shop.shop_id} ({shop.shop_name}) is a 自有商城 shop"

    def logistics() -> str:
        if not tenant.logistics:
            raise _Failed("no logistics mapping: store shipments cannot name their carrier in JST")
        known = {c.lc_id for c in lookups.get("logistics", jst.query_logistics_companies)}
        missing = [row.jst_lc_id for row in tenant.logistics if row.jst_lc_id not in known]
        if missing:
            raise _Failed(f"jst_lc_id not among JST's logistics companies: {', '.join(missing)}")
        return f"{len(tenant.logistics)} carrier(s) mapped, all known to JST"

    def stores() -> str:
        if not tenant.stores:
            raise _Failed("no stores: online orders cannot be routed to any store")
        idle = [s.code for s in tenant.stores if not (s.ship or s.pickup)]
        if idle:
            raise _Failed(f"store(s) neither ship nor offer pickup: {', '.join(idle)}")
        return f"{len(tenant.stores)} store(s), each ships or offers pickup"

    def warehouse_mapping() -> str:
        mapped = {w.jst_wms_co_id for w in tenant.warehouses}
        if section.offline_wms_co_id in mapped:
            # 店加线下仓 is fed BY the stores: mapping it to a 店+ warehouse would send the stores'
            # own aggregate back into 店+ as warehouse stock, counted twice.
            raise _Failed(f"offline_wms_co_id {section.offline_wms_co_id} (店加线下仓) is mapped to a 店+ warehouse: "
                          "it is fed by the stores, so its stock would loop back into 店+; remove that row")
        if section.main_wms_co_id not in mapped:
            raise _Failed(f"main_wms_co_id {section.main_wms_co_id} (总仓) has no 店+ warehouse code: create the 店+ "
                          "warehouse whose code is that ID and map it")
        known = {w.wms_co_id for w in lookups.get("warehouses", jst.query_warehouses)}
        unknown = sorted(mapped - known)
        if unknown:
            raise _Failed(f"mapped jst_wms_co_id not among JST's warehouses: {', '.join(map(str, unknown))}")
        return (f"{len(tenant.warehouses)} warehouse(s) mapped, main included; 店加线下仓 "
                f"{section.offline_wms_co_id} is fed by the stores and rightly not mapped")

    def stock_formula() -> str:
        from ...stock_formula import FormulaError, StockFormula

        try:
            StockFormula(tenant.stock.formula)
        except FormulaError as exc:
            raise _Failed(f"{tenant.stock.formula!r}: {exc}") from None
        return f"{tenant.stock.formula!r} parses"

    run("credentials", credentials)
    run("warehouses", warehouses)
    run("self_mall_shop", self_mall_shop)
    run("logistics", logistics)
    run("stores", stores)
    run("warehouse_mapping", warehouse_mapping)
    run("stock_formula", stock_formula)
    checks.append(_callback_auth(section.callback))
    bins = section.bin_managed_wms_co_ids
    checks.append(Check("bin_management", True, (
        f"counts into {', '.join(map(str, bins))} go as type=adjust (货位管理)" if bins else
        "JST's API does not show 货位管理: if 店加线下仓 or a store's JST warehouse manages bins, list it in "
        "jushuitan.bin_managed_wms_co_ids, or a stock upload (type=check) zeroes every SKU it does not send"),
        warning=not bins))
    checks.append(Check("self_mall_dispatch_rule", True, (
        f"JST's API cannot show its 订单分配策略: make sure the 自有商城 shop {section.self_mall_shop_id} is never "
        f"assigned to 店加线下仓 ({section.offline_wms_co_id}); the bridge parks such an outbound as a "
        "self_mall_order exception instead of sending it to a store"), warning=True))
    return checks


def _callback_auth(callback: Any) -> Check:
    """How strongly a push is tied to its callback URL (docs/security.md): a warning where it could be tighter."""
    proofs = callback.accepted_proofs()
    if not proofs:
        return Check("callback_auth", True, "allow_unsigned: JST pushes are accepted without any proof; anyone who "
                                            "knows a callback URL can make the bridge re-read documents", warning=True)
    if "token" in proofs and callback.tenant_wide_token:
        return Check("callback_auth", True, "the plain callback token is accepted on every URL (tenant_wide_token): "
                                            "paste the per-URL URLs of `o2o tenant urls --reveal-token` into JST, "
                                            "then turn tenant_wide_token off", warning=True)
    how = ["JST's push sign (route, tenant, ts window)"] if "sign" in proofs else []
    how += ["each URL's own token"] if "token" in proofs else []
    return Check("callback_auth", True, "pushes prove themselves by " + " or ".join(how))


class _Failed(Exception):
    pass
