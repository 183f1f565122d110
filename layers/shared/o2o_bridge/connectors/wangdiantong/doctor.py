"""`o2o tenant doctor` for a 旺店通 tenant: the tenant file checked against what the ERP has
(the guide's onboarding steps, W6).

Each check is independent and says in one line why it failed, so an implementation
engineer fixes everything in one pass. A failed ERP call fails only the checks that
needed it.
"""

from __future__ import annotations

from typing import Any, Callable

from ...errors import BridgeError
from ..checks import Check, Lookups

MAX_CATEGORY_LEVELS = 3


class _Failed(Exception):
    pass


def category_depth(classes: list[Any]) -> tuple[int, list[str]]:
    """The deepest category level and the path to it (names), following parent_id."""
    by_id = {c.class_id: c for c in classes}
    deepest: tuple[int, list[str]] = (0, [])
    for c in classes:
        path, seen, current = [], set(), c
        while current is not None and current.class_id not in seen:
            seen.add(current.class_id)
            path.append(current.class_name or current.class_id)
            current = by_id.get(current.parent_id or "")
        if len(path) > deepest[0]:
            deepest = (len(path), list(reversed(path)))
    return deepest


def check_tenant(tenant: Any, wdt: Any, secrets: Any) -> list[Check]:
    section = tenant.wangdiantong
    lookups = Lookups()
    checks: list[Check] = []

    def run(name: str, body: Callable[[], str]) -> None:
        try:
            checks.append(Check(name, True, body()))
        except _Failed as failed:
            checks.append(Check(name, False, str(failed)))
        except BridgeError as exc:
            checks.append(Check(name, False, f"旺店通 call failed: {exc.message}"))

    def shops() -> list[Any]:
        return lookups.get("shops", wdt.shops)

    def warehouses() -> dict[str, Any]:
        return {w.warehouse_no: w for w in lookups.get("warehouses", wdt.warehouses)}

    def credentials() -> str:
        try:
            if not section.reveal("appsecret", secrets):
                raise _Failed("wangdiantong.appsecret is empty")
        except BridgeError as exc:
            raise _Failed(f"wangdiantong.appsecret cannot be read: {exc.message}") from None
        return f"signed call accepted by 旺店通 (sid {section.sid}, appkey {section.appkey}; {len(shops())} shop(s) visible)"

    def pos_shop() -> str:
        shop = next((s for s in shops() if s.shop_no == section.shop_no), None)
        if shop is None:
            raise _Failed(f"shop {section.shop_no} does not exist in 旺店通 (设置 > 基本设置 > 店铺)")
        if shop.is_disabled:
            raise _Failed(f"shop {shop.shop_no} ({shop.shop_name}) is disabled")
        if shop.platform_id not in section.push_platform_ids:
            raise _Failed(f"shop {shop.shop_no} ({shop.shop_name}) is of platform {shop.platform_id}, which trade_push "
                          f"does not accept: the bridge pushes store sales, so the shop must be of platform 自有 or "
                          f"其它 ({', '.join(section.push_platform_ids)}), not the guide's 微铺宝")
        return f"shop {shop.shop_no} ({shop.shop_name}) accepts pushed trades (platform {shop.platform_id})"

    def store_warehouses() -> str:
        if not tenant.stores:
            raise _Failed("no stores: no sale, document or stock has a warehouse to go to")
        known = warehouses()
        by_name = {(w.name or ""): w for w in known.values()}
        problems = []
        for store in tenant.stores:
            number = store.wdt_warehouse
            if number in known:
                continue
            hint = ""
            named = by_name.get(store.name)
            if named is not None:
                hint = f" (warehouse {named.name} has 仓库编号 {named.warehouse_no}: make it {number})"
            problems.append(f"store {store.code}: no 旺店通 warehouse with 仓库编号 {number}{hint}")
        if problems:
            raise _Failed("; ".join(problems))
        differ = [f"{s.code}→{s.wdt_warehouse}" for s in tenant.stores if s.wdt_warehouse != s.code]
        note = f" (wdt_warehouse_no differs from the store code: {', '.join(differ)})" if differ else ""
        return f"{len(tenant.stores)} store(s), each with its warehouse (仓库编号 = store code){note}"

    def main_warehouse() -> str:
        found = warehouses().get(section.main_warehouse_no)
        if found is None:
            raise _Failed(f"main_warehouse_no {section.main_warehouse_no} is not among 旺店通's "
                          f"{len(warehouses())} warehouse(s)")
        return f"main warehouse {found.warehouse_no} ({found.name or '?'}) exists"

    def logistics() -> str:
        rows = {row.logistics_no: row for row in lookups.get("logistics", wdt.logistics)}
        problems = []
        no_tracking = rows.get(section.no_tracking_logistics_code)
        if no_tracking is None:
            problems.append(f"no_tracking_logistics_code {section.no_tracking_logistics_code} (无单号物流) does not exist")
        cod = rows.get(section.cod_logistics_code)
        if cod is None:
            problems.append(f"cod_logistics_code {section.cod_logistics_code} (货到付款物流) does not exist")
        elif not cod.is_support_cod:
            problems.append(f"logistics {cod.logistics_no} ({cod.logistics_name}) does not support 货到付款: "
                            f"cash sales would be refused")
        if problems:
            raise _Failed("; ".join(problems))
        return (f"无单号 {no_tracking.logistics_no} ({no_tracking.logistics_name}) and 货到付款 {cod.logistics_no} "
                f"({cod.logistics_name}) exist")

    def categories() -> str:
        classes = lookups.get("classes", wdt.goods_classes)
        depth, path = category_depth(classes)
        if depth > MAX_CATEGORY_LEVELS:
            raise _Failed(f"categories are {depth} levels deep ({' > '.join(path)}); the store system takes at most "
                          f"{MAX_CATEGORY_LEVELS}: flatten them")
        return f"{len(classes)} categor{'y' if len(classes) == 1 else 'ies'}, at most {depth} level(s) deep"

    run("credentials", credentials)
    run("pos_shop", pos_shop)
    run("store_warehouses", store_warehouses)
    run("main_warehouse", main_warehouse)
    run("logistics", logistics)
    run("categories", categories)
    return checks
