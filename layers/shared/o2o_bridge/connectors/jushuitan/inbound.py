"""JST's inbound edge: reading a push (the four callbacks, docs/openapi/pos-api.yaml
"JST callbacks") off an HTTP API event, and what it names.

A push is a signal, never a fact: it names documents (an order's parcel, a cancelled order,
a return's receipt, the SKUs whose stock moved) and the flows re-read those documents through
JST's signed API (the Warehouse port) before any effect. A forged or replayed push can at most
cause a re-read.

JST posts either a JSON body or a form whose ``biz`` field holds the JSON; the query
string carries ``entId`` and ``storageCode`` (and ``method``, ``partnerid``, ``ts``, ``sign``
from JST, or the URL's own ``token``). Authentication comes first (``verify_push``): a push
that does not prove it comes from this tenant's JST for this route and this storageCode gets
one 401 whatever the reason, after the same work and at the same deadline after the request
began (refusal_time.py), unless the tenant explicitly set ``allow_unsigned``. Then the body
is read: anything malformed is a BadRequest answered 400 in JST's format. Nothing is written
on either path.

The body is checked against its model only when the flow asks (``push.delivery()``,
``push.cancel()``, ``push.return_goods()``, ``push.stock()``), so a missing field is a
400 naming it.
"""

from __future__ import annotations

import base64
import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ...errors import BadRequest, ConfigurationError
from ...observability import logger
from ...ports import SecretResolver

if TYPE_CHECKING:
    from ...tenant import TenantRepository
    from .push import CancelPush, LogisticsPush, ReturnGoodsPush, StockPush

M = TypeVar("M")


@dataclass(frozen=True)
class JstPush:
    ent_id: str
    storage_code: str
    query: dict[str, str]
    body: dict[str, Any]
    raw_body: str
    tenant: Any
    authenticated_by: str = "unsigned"  # "sign", "token" or "unsigned" (tenant opted out)

    def as_model(self, model: type[M]) -> M:
        from .push import parse_push_body

        return parse_push_body(model, self.body)

    def delivery(self) -> "LogisticsPush":
        from .push import LogisticsPush

        return self.as_model(LogisticsPush)

    def cancel(self) -> "CancelPush":
        from .push import CancelPush

        return self.as_model(CancelPush)

    def return_goods(self) -> "ReturnGoodsPush":
        from .push import ReturnGoodsPush

        return self.as_model(ReturnGoodsPush)

    def stock(self) -> "StockPush":
        from .push import StockPush

        return self.as_model(StockPush)

    # --- what the push names (the flows re-read it from JST) ------------------------------
    def named_shipments(self) -> tuple[list[str], list[str]]:
        """物流同步: the store orders (a merged order's lines carry their own so_id) and the parcel."""
        body = self.delivery()
        return sorted({item.so_id or body.so_id for item in body.items} | {body.so_id}), [body.l_id]

    def named_cancels(self) -> list[str]:
        """取消订单: the store order."""
        return [self.cancel().so_id]

    def named_receipts(self) -> tuple[list[str], list[str], list[str]]:
        """售后收货: the return (outer_as_id), its order, and JST's as_id when given."""
        body = self.return_goods()
        return [body.outer_as_id], [body.so_id], [body.as_id] if body.as_id else []

    def said_receipt(self) -> str | None:
        """售后收货: what the push itself says happened ("confirm" 确认收货 / "cancel" 取消收货; None
        when it does not say). Only a hint that lets a repeat be known before JST is read again."""
        action = self.return_goods().action_name
        return {"确认收货": "confirm", "取消收货": "cancel"}.get(action or "")

    def named_stock(self, now: float | None = None) -> tuple[str, list[str]]:
        """库存同步: the warehouse (storageCode = wms_co_id) and its SKUs. A row modified later than
        now + the tenant's clock allowance is a forged or broken push: refused (400), nothing read."""
        from .mappers import jst_version, latest_version

        rows = self.stock().datas
        limit = latest_version(self.tenant.stock.clock_allowance_seconds, now)
        for index, row in enumerate(rows):
            if row.modified and jst_version(row.modified) > limit:
                raise BadRequest(f"push body: datas[{index}].modified {row.modified} is later than now + "
                                 f"{self.tenant.stock.clock_allowance_seconds} s: refused, nothing was written")
        return self.storage_code, sorted({row.sku_id for row in rows})

    def stock_signals(self) -> dict[str, list[Any]]:
        """库存同步: what the push says of each SKU, ``sku -> [modified second as a version (ms) or
        None, the pushed qty as text]`` (the latest row of a SKU named twice). Not a level (the qty
        is shop-level): it lets a repeat of a push the bridge already read be known before JST is
        read again (``stock_sync.reread_stock``)."""
        from .mappers import jst_version

        signals: dict[str, list[Any]] = {}
        for row in self.stock().datas:
            modified = jst_version(row.modified) if row.modified else None
            earlier = signals.get(row.sku_id)
            if earlier is None or (modified or 0) >= (earlier[0] or 0):
                signals[row.sku_id] = [modified, str(row.qty)]
        return signals


# routeKey -> (route name, what its storageCode names). The route a push arrived on decides
# which push method its sign must carry.
ROUTES: dict[str, tuple[str, Literal["shop", "warehouse"]]] = {
    "/jushuitan/delivery_callback": ("delivery", "shop"),
    "/jushuitan/cancel_callback": ("cancel", "shop"),
    "/jushuitan/cancal_callback": ("cancel", "shop"),
    "/jushuitan/return_goods_callback": ("return_goods", "shop"),
    "/jushuitan/stock_callback": ("stock", "warehouse"),
}
ENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # the Tenant model's ent_id pattern
MAX_QUERY_VALUE = 256


def read_push(event: Any, tenants: TenantRepository, *, storage: Literal["shop", "warehouse"] | None = None,
              secrets: SecretResolver | None = None, now: float | None = None) -> JstPush:
    """Authenticate the push (one 401 for every reason), then parse its body (400 naming what is wrong)."""
    from ...refusal_time import read_like_a_tenant, refusals_answered_at_deadline
    from .push import MAX_BODY_BYTES, PushRefused, parse_push_text, verify_push

    route, route_storage = _route_of(event)
    if storage is not None and storage != route_storage:
        raise ConfigurationError(f"route {route} reads a {route_storage} storageCode, not a {storage}")
    query = {k: v for k, v in (event.query_string_parameters or {}).items()}
    if any(len(v) > MAX_QUERY_VALUE for v in query.values()):
        raise BadRequest(f"a query parameter is longer than {MAX_QUERY_VALUE} characters")
    ent_id, storage_code = query.get("entId", "").strip(), query.get("storageCode", "").strip()
    if not ent_id:
        raise BadRequest("query parameter entId is required")
    if not storage_code:
        raise BadRequest("query parameter storageCode is required")
    if storage == "warehouse" and query.get("type", "2").strip() != "2":
        # The guide's 库存同步 URL carries type=2; another value is a URL pasted for something else.
        raise BadRequest(f"query parameter type must be 2 on stock_callback (the 库存同步 URL), got {query['type']!r}")
    raw = event.body or ""
    if len(raw) > MAX_BODY_BYTES * 4 // 3 + 4:
        raise BadRequest(f"body larger than {MAX_BODY_BYTES} bytes")
    if event.is_base64_encoded:
        try:
            raw = base64.b64decode(raw).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("body is not valid UTF-8") from None

    # Authentication first, and alike for every stranger: an unknown entId, a storageCode that
    # is not the tenant's, a wrong sign and a wrong token do the same work, get one answer and
    # are answered at one deadline after the request began (refusal_time.py: a cold secret read
    # is not seen).
    with refusals_answered_at_deadline(PushRefused):
        tenant = tenants.get(ent_id) if ENT_ID.fullmatch(ent_id) else None
        if tenant is not None and getattr(tenant, "jushuitan", None) is None:
            tenant = None  # a tenant on another ERP has no JST pushes: a stranger here
        # A stranger is checked against a stand-in tenant along the very same steps, and pays
        # the Secrets Manager read a tenant's references cost.
        resolver = secrets if secrets is not None else _RuntimeResolver()
        if tenant is None and ENT_ID.fullmatch(ent_id):
            read_like_a_tenant(ent_id, resolver)
        checked = tenant if tenant is not None else _stand_in()
        storage_ok = storage_code in _storage_codes(checked, route_storage)
        credentials = _credentials(checked, resolver)
        authenticated_by = verify_push(query, route=route, credentials=credentials if tenant is not None else None,
                                       storage_ok=storage_ok, now=now)
    if authenticated_by == "tenant-wide token":
        # Still works (migration), but binds the tenant only: say so where the operator looks.
        logger.warning(f"push authenticated by the tenant-wide callback token, which binds no route: run `o2o tenant "
                       f"urls {ent_id} --rotate` and paste the URLs it prints into JST",
                       extra={"ent_id": ent_id, "route": route})
    body = parse_push_text(raw, event.headers.get("content-type", ""))
    return JstPush(ent_id, storage_code, query, body, raw, tenant, authenticated_by)


def _route_of(event: Any) -> tuple[str, Literal["shop", "warehouse"]]:
    route_key = (event.get("routeKey") or "").partition(" ")[2] or event.get("rawPath") or ""
    if route_key not in ROUTES:
        raise ConfigurationError(f"{route_key!r} is not a JST callback route")
    return ROUTES[route_key]


@functools.cache
def _stand_in() -> Any:
    """A tenant no push can match (random credentials, built once per container)."""
    import secrets as random

    from ...tenant import parse_tenant

    key = random.token_hex(16)
    return parse_tenant({
        "ent_id": "stand-in", "name": "stand-in",
        "jushuitan": {"app_key": "-", "app_secret": key, "offline_wms_co_id": 1, "main_wms_co_id": 1,
                      "self_mall_shop_id": 1, "callback": {"partner_key": key, "token": key}},
        "pos": {"base_url": "http://127.0.0.1", "api_key": key, "webhook_secret": key},
        "warehouses": [{"jst_wms_co_id": 1, "pos_warehouse_code": "-"}],
    })


def _storage_codes(tenant: Any, storage: str) -> set[str]:
    if storage == "shop":
        return {str(tenant.jushuitan.self_mall_shop_id)}
    return {str(w.jst_wms_co_id) for w in tenant.warehouses}


def _credentials(tenant: Any, resolver: SecretResolver):
    from .push import PushCredentials

    callback = tenant.jushuitan.callback
    return PushCredentials(
        partner_key=callback.reveal("partner_key", resolver),
        token=callback.reveal("token", resolver),
        allow_unsigned=callback.allow_unsigned,
        accept=callback.accepted_proofs(),
        max_age_seconds=callback.max_age_seconds,
        cancel_method=callback.cancel_method,
        tenant_wide_token=callback.tenant_wide_token,
    )


class _RuntimeResolver:
    """Secrets Manager through the container's cached resolver, built only when a reference is used."""

    def resolve(self, reference: str) -> str:
        from ... import runtime

        return runtime.secret_resolver().resolve(reference)
