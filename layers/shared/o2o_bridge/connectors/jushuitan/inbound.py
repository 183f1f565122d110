"""JST's inbound edge: reading a push (the four callbacks, docs/openapi/pos-api.yaml
"JST callbacks") off an HTTP API event, and what it names.

A push is a signal, never a fact: it names documents (an order's parcel, a cancelled order,
a return's receipt, the SKUs whose stock moved) and the flows re-read those documents through
JST's signed API (the Warehouse port) before any effect. A forged or replayed push can at most
cause a re-read.

JST posts either a JSON body or a form whose ``biz`` field holds the JSON; the query
string carries ``entId`` and ``storageCode`` (and, for signed pushes, ``method``,
``partnerid``, ``ts``, ``sign``). Anything malformed is a BadRequest: answered 400 in
JST's format before anything is read or written. A push that does not prove it comes
from JST (sign with the tenant's partner key, or the tenant's ``token``) is Unauthorized
(401) unless the tenant explicitly set ``allow_unsigned``.

The body is checked against its model only when the flow asks (``push.delivery()``,
``push.cancel()``, ``push.return_goods()``, ``push.stock()``), so a missing field is a
400 naming it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import parse_qs

from ...errors import BadRequest, Forbidden, UnknownTenant
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

    def named_stock(self) -> tuple[str, list[str]]:
        """库存同步: the warehouse (storageCode = wms_co_id) and its SKUs."""
        return self.storage_code, sorted({row.sku_id for row in self.stock().datas})


def read_push(event: Any, tenants: TenantRepository, *, storage: Literal["shop", "warehouse"],
              secrets: SecretResolver | None = None) -> JstPush:
    query = dict(event.query_string_parameters or {})
    ent_id, storage_code = query.get("entId", "").strip(), query.get("storageCode", "").strip()
    if not ent_id:
        raise BadRequest("query parameter entId is required")
    if not storage_code:
        raise BadRequest("query parameter storageCode is required")
    raw = event.body or ""
    if event.is_base64_encoded:
        try:
            raw = base64.b64decode(raw).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("body is not valid UTF-8") from None
    body = _parse_body(raw, event.headers.get("content-type", ""))

    tenant = tenants.get(ent_id)
    if tenant is None:
        raise UnknownTenant(ent_id)
    if storage == "shop":
        if storage_code != str(tenant.jushuitan.self_mall_shop_id):
            raise Forbidden(f"storageCode {storage_code!r} is not tenant {ent_id}'s 自有商城 shop")
    elif storage_code not in {str(w.jst_wms_co_id) for w in tenant.warehouses}:
        raise Forbidden(f"storageCode {storage_code!r} is not a warehouse mapped for tenant {ent_id}")
    authenticated_by = _authenticate(query, tenant, secrets)
    return JstPush(ent_id, storage_code, query, body, raw, tenant, authenticated_by)


def _authenticate(query: dict[str, str], tenant: Any, secrets: SecretResolver | None) -> str:
    from .push import authenticate_push

    callback = tenant.jushuitan.callback
    resolver = secrets if secrets is not None else _RuntimeResolver()
    return authenticate_push(
        query,
        partner_key=callback.reveal("partner_key", resolver),
        token=callback.reveal("token", resolver),
        allow_unsigned=callback.allow_unsigned,
    )


class _RuntimeResolver:
    """Secrets Manager through the container's cached resolver, built only when a reference is used."""

    def resolve(self, reference: str) -> str:
        from ... import runtime

        return runtime.secret_resolver().resolve(reference)


def _parse_body(raw: str, content_type: str) -> dict[str, Any]:
    if not raw.strip():
        raise BadRequest("empty body: expected a JSON object or a form with a biz field")
    text = raw
    if "application/x-www-form-urlencoded" in content_type.lower() or (not raw.lstrip().startswith(("{", "[")) and "biz=" in raw):
        form = parse_qs(raw, keep_blank_values=True)
        if "biz" not in form:
            raise BadRequest("form body has no biz field")
        text = form["biz"][0]
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise BadRequest(f"body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body
