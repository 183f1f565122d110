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
        cloud = tenant.warehouse == "qimen"  # the WMS holds the warehouse stock 店+ shows (Q5), not JST's 总仓
        if section.main_wms_co_id not in mapped and not cloud:
            raise _Failed(f"main_wms_co_id {section.main_wms_co_id} (总仓) has no 店+ warehouse code: create the 店+ "
                          "warehouse whose code is that ID and map it")
        known = {w.wms_co_id for w in lookups.get("warehouses", jst.query_warehouses)}
        unknown = sorted(mapped - known)
        if unknown:
            raise _Failed(f"mapped jst_wms_co_id not among JST's warehouses: {', '.join(map(str, unknown))}")
        main = ("the warehouse stock comes from the cloud WMS (奇门), so JST's 总仓 needs no 店+ warehouse" if cloud
                else "main included")
        return (f"{len(tenant.warehouses)} warehouse(s) mapped, {main}; 店加线下仓 "
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
    checks.append(_callback_auth(tenant.ent_id, section.callback))
    checks.append(_bin_management(tenant, lookups, jst))
    if section.replenishment_document == "transfer":
        checks.append(_replenishment_transfer(tenant))
        checks.append(_transfer_receipt(tenant))
    checks.append(Check("self_mall_dispatch_rule", True, (
        f"JST's API cannot show its 订单分配策略: make sure the 自有商城 shop {section.self_mall_shop_id} is never "
        f"assigned to 店加线下仓 ({section.offline_wms_co_id}); the bridge parks such an outbound as a "
        "self_mall_order exception instead of sending it to a store"), warning=True))
    return checks


def _callback_auth(ent_id: str, callback: Any) -> Check:
    """How strongly a push is tied to its callback URL (docs/security.md): a warning where it could be tighter."""
    proofs = callback.accepted_proofs()
    if not proofs:
        return Check("callback_auth", True, "allow_unsigned: JST pushes are accepted without any proof; anyone who "
                                            "knows a callback URL can make the bridge re-read documents", warning=True)
    if "token" in proofs and callback.tenant_wide_token:
        return Check("callback_auth", True, "the plain callback token is accepted on every URL (tenant_wide_token), "
                                            "and URLs that carried it give away the key the per-URL tokens derive "
                                            f"from: run `o2o tenant urls {ent_id} --rotate` and paste the URLs it "
                                            "prints into JST", warning=True)
    how = ["JST's push sign (route, tenant, ts window)"] if "sign" in proofs else []
    how += ["each URL's own token"] if "token" in proofs else []
    return Check("callback_auth", True, "pushes prove themselves by " + " or ".join(how))


def counted_warehouses(tenant: Any) -> dict[int, str]:
    """The JST warehouses the bridge sends counts (inventoryv2 uploads) into, and why."""
    section = tenant.jushuitan
    counted = {section.offline_wms_co_id: "店加线下仓, the stores' stock summed (S4, the 02:10 run)"}
    if tenant.stock.master == "erp":
        stores = {s.code for s in tenant.stores}
        for mapping in tenant.warehouses:
            if mapping.pos_warehouse_code in stores:
                counted[mapping.jst_wms_co_id] = f"store {mapping.pos_warehouse_code}'s 盘点单"
    return counted


def _bin_management(tenant: Any, lookups: Lookups, jst: Any) -> Check:
    """货位管理 is a JST warehouse setting its open API does not show (the warehouse query
    answers name, is_main and status only), so it cannot be detected: the tenant states it.
    The bridge counts into the warehouses of ``counted_warehouses``; in a bin-managed one a
    ``type=check`` upload zeroes every SKU it does not list, so there it sends the difference
    (``type=adjust``) instead."""
    section = tenant.jushuitan
    counted = counted_warehouses(tenant)
    where = "; ".join(f"{wms} ({why})" for wms, why in counted.items())
    stated = section.bin_managed_wms_co_ids
    if stated is None:
        return Check("bin_management", True, (
            "not stated: JST's API does not show which warehouses use 货位管理 (bin management), so it cannot be "
            f"checked. The bridge sends stock counts into {where}; in a bin-managed warehouse a count with "
            "type=check zeroes every SKU it does not list. Set jushuitan.bin_managed_wms_co_ids to the bin-managed "
            "ones among them (counts there go as type=adjust, by the difference), or to [] if none is"),
            warning=True)
    try:
        known = {w.wms_co_id for w in lookups.get("warehouses", jst.query_warehouses)}
    except BridgeError:
        known = set(stated)  # the warehouses check already says JST could not be asked
    unknown = [w for w in stated if w not in known]
    if unknown:
        return Check("bin_management", False, "jushuitan.bin_managed_wms_co_ids names warehouse(s) JST does not "
                     f"have: {', '.join(map(str, unknown))}")
    bins = [w for w in counted if w in stated]
    checks = [w for w in counted if w not in stated]
    return Check("bin_management", True, "; ".join(filter(None, (
        f"counts into {', '.join(map(str, bins))} go as type=adjust (货位管理, stated by the tenant)" if bins else "",
        f"counts into {', '.join(map(str, checks))} go as type=check (stated: no 货位管理)" if checks else ""))))


def _replenishment_transfer(tenant: Any) -> Check:
    """配货 as a JST transfer document: its endpoints are not in the JST reference the bridge was
    built from, so a person confirms one test document before going live."""
    section = tenant.jushuitan
    mapped = {m.pos_warehouse_code: m.jst_wms_co_id for m in tenant.warehouses}
    where = ", ".join(f"{s.code} -> {mapped.get(s.code, section.offline_wms_co_id)}" for s in tenant.stores)
    api = section.transfer_api
    return Check("replenishment_document", True, (
        f"配货 goes to JST as a 调拨单 from {section.main_wms_co_id} ({where}) over {api.upload_path}, shipped when "
        f"its status is {'/'.join(api.shipped_statuses)}: JST does not document these endpoints, so send one test "
        "配货 and check it with o2o trace before going live (jushuitan.transfer_api corrects them)"), warning=True)


def _transfer_receipt(tenant: Any) -> Check:
    """Nobody tells JST that a 配货 transfer arrived: neither the JST open API the bridge knows
    (transfers can be uploaded and queried, not received) nor the store system (no event when a
    store takes in a 配货) offers the step, so a person does it in JST, and doctor says so."""
    section = tenant.jushuitan
    mapped = {m.pos_warehouse_code: m.jst_wms_co_id for m in tenant.warehouses}
    destinations = sorted({mapped.get(s.code, section.offline_wms_co_id) for s in tenant.stores})
    where = ", ".join(map(str, destinations))
    erp_owned = tenant.stock.master == "erp" and any(d != section.offline_wms_co_id for d in destinations)
    return Check("transfer_receipt", True, " ".join(filter(None, (
        "the bridge cannot receive a 配货 transfer in JST: JST's open API offers no transfer-receipt "
        "(调拨入库) call and the store system sends no event when a store takes in a 配货. Until someone "
        f"receives each transfer in JST's 调拨单 list (find it by the 配货 number), JST shows its goods as "
        f"调拨在途 (allocate_qty) at {where}, not in stock there; `o2o transfers awaiting-receipt` lists the "
        "shipped ones still to receive.",
        f"With stock.master: erp the stores' stock is JST's stock of their warehouses (stock.formula "
        f"{tenant.stock.formula!r}; 调拨在途 is not stock), so a store that took the goods in loses them "
        "again at the next stock pull until the transfer is received in JST."
        if erp_owned else "",
    ))), warning=True)


class _Failed(Exception):
    pass
