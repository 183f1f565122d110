"""JST pushes to our callback URLs (§6): the four bodies and how a push is authenticated.

The bodies tolerate fields we do not know (JST and its integrators disagree on extras)
but refuse a body without the fields a flow needs, naming the field. Authentication
follows pos-contract.md: the old-API push sign when the tenant has a partner key, or
the tenant's ``token`` query parameter, or nothing only when the tenant opted out.
"""

from __future__ import annotations

import hmac
import os
import time
from typing import Any, Mapping, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ...errors import BadRequest, Unauthorized
from ...shanghai_time import from_jst_text
from .models import Qty
from .signing import legacy_push_sign

P = TypeVar("P", bound=BaseModel)

# Query parameters our route URLs carry for ourselves; JST's sign may or may not cover them.
OUR_QUERY_PARAMETERS = frozenset({"entId", "storageCode", "type", "token"})
# §8: no source gives JST's ts format or clock tolerance. Unset = ts not checked;
# set (seconds) = a signed push older or newer than that is refused as a replay.
MAX_AGE_VARIABLE = "JST_PUSH_MAX_AGE_SECONDS"


class PushBody(BaseModel):
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, populate_by_name=True)


class PushLine(PushBody):
    sku_id: str
    qty: Qty
    so_id: str | None = None
    oi_id: str | None = None
    outer_oi_id: str | None = None
    name: str | None = None


class LogisticsPush(PushBody):
    """物流同步 (logistics.upload): one (partial) shipment; idempotent per (so_id, l_id, outer_oi_id)."""

    so_id: str
    l_id: str
    lc_id: str
    o_id: str | None = None
    send_date: str | None = None
    logistics_company: str | None = None
    order_from: str | None = None
    wms_co_id: str | None = None
    is_send_all: bool | None = None  # one low-confidence source
    items: list[PushLine] = Field(min_length=1)


class CancelPush(PushBody):
    """取消订单: the store order ``so_id`` was cancelled in JST."""

    so_id: str
    remark: str | None = None


class ReturnGoodsLine(PushBody):
    sku_id: str
    qty: Qty


class ReturnGoodsPush(PushBody):
    """售后收货 (refund.goods): ``action_name`` 确认收货 / 取消收货 (ShopeX); absent in yudao's model."""

    outer_as_id: str
    so_id: str
    action_name: str | None = None
    as_id: str | None = None
    o_id: str | None = None
    remark: str | None = None
    items: list[ReturnGoodsLine] = []

    @property
    def received(self) -> bool:
        return self.action_name != "取消收货"


class StockRow(PushBody):
    sku_id: str
    qty: Qty
    i_id: str | None = None
    shop_sku_id: str | None = None
    shop_i_id: str | None = None
    shop_id: str | None = None
    sku_source: str | None = None
    modified: str | None = None


class StockPush(PushBody):
    """库存同步 (inventory.upload): ``datas`` (ShopeX); the new push's ``items`` is accepted too."""

    datas: list[StockRow] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _items_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "datas" not in data and isinstance(data.get("items"), list):
            return {**data, "datas": data["items"]}
        return data


def parse_push_body(model: type[P], body: Mapping[str, Any]) -> P:
    """Validate a push body; a missing or malformed field is a BadRequest naming it."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False)[:5]:
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
            problems.append(f"{where or 'body'}: {error['msg']}")
        raise BadRequest("push body: " + "; ".join(problems)) from None


def authenticate_push(query: Mapping[str, str], *, partner_key: str | None, token: str | None,
                      allow_unsigned: bool, now: float | None = None) -> str:
    """How the push proved it comes from JST: "sign", "token" or "unsigned"; else Unauthorized."""
    sign = (query.get("sign") or "").strip().lower()
    if partner_key and sign:
        if not any(hmac.compare_digest(sign, expected) for expected in _expected_signs(query, partner_key)):
            raise Unauthorized("push sign does not match the tenant's partner key")
        _check_age(query.get("ts"), now)
        return "sign"
    given = query.get("token")
    if token and given:
        if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
            raise Unauthorized("push token does not match the tenant's callback token")
        return "token"
    if allow_unsigned:
        return "unsigned"
    expected = " or ".join(n for n, v in (("a JST sign (method, partnerid, ts, sign)", partner_key),
                                          ("the tenant's token query parameter", token)) if v)
    raise Unauthorized(f"push is not authenticated: expected {expected or 'a configured credential'}")


def _expected_signs(query: Mapping[str, str], partner_key: str) -> list[str]:
    method, partner_id = query.get("method", ""), query.get("partnerid", "")
    everything = {k: v for k, v in query.items() if k not in {"sign", "method", "partnerid"}}
    jst_only = {k: v for k, v in everything.items() if k not in OUR_QUERY_PARAMETERS}
    # §6.1/§8: unknown whether JST's sign covers the parameters of the URL we configured.
    return [legacy_push_sign(method, partner_id, params, partner_key) for params in (jst_only, everything)]


def _check_age(ts: str | None, now: float | None) -> None:
    limit = os.environ.get(MAX_AGE_VARIABLE, "").strip()
    if not limit:
        return
    at = _parse_ts(ts)
    if at is None:
        raise Unauthorized("signed push has no readable ts")
    if abs((time.time() if now is None else now) - at) > float(limit):
        raise Unauthorized("signed push ts is outside the accepted clock window (replay?)")


def _parse_ts(ts: str | None) -> float | None:
    if not ts:
        return None
    text = ts.strip()
    if text.isdigit():
        value = int(text)
        return value / 1000 if value > 10**11 else float(value)  # milliseconds or seconds
    moment = from_jst_text(text)
    return moment.timestamp() if moment is not None else None


