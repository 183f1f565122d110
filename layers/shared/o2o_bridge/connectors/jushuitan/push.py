"""JST pushes to our callback URLs (§6): the four bodies and how a push is authenticated.

The bodies tolerate fields we do not know (JST and its integrators disagree on extras)
but refuse a body without the fields a flow needs, naming the field, and a quantity that is
missing or null. Bodies are bounded (size, nesting) so a hostile one is a 400, never a 500.
Authentication (``verify_push``): the old-API push sign bound to route, tenant and time when
the tenant has a partner key, else a token in the URL (one per callback URL, derived from the
tenant's ``token``; the plain tenant-wide token only while ``tenant_wide_token`` allows it),
else nothing only when the tenant opted out; every refusal is the same 401.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _random
import time
from dataclasses import dataclass
from typing import Any, Mapping, TypeVar

import json
from decimal import Decimal
from typing import Annotated
from urllib.parse import parse_qs

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from ...errors import BadRequest, Unauthorized
from ...shanghai_time import from_jst_text
from .models import _decimal
from .signing import legacy_push_sign

P = TypeVar("P", bound=BaseModel)

MAX_BODY_BYTES = 1024 * 1024  # ~5 000 stock rows; JST pushes are far smaller
MAX_NESTING = 16  # the deepest push body is 3 levels (datas[].field)


def _pushed_quantity(value: Any) -> Any:
    # Unlike a query answer (models.Qty), a push that leaves qty out or null says nothing about
    # the quantity: setting 0 from it would empty a store's stock.
    parsed = _decimal(value)
    if parsed is None:
        raise ValueError("a quantity is required (null or empty is not a quantity)")
    return parsed


Qty = Annotated[Decimal, BeforeValidator(_pushed_quantity)]



class PushBody(BaseModel):
    # defer_build: each model is built when first used, not at import; a request uses a few of them.
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, populate_by_name=True, defer_build=True)


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

    @model_validator(mode="after")
    def _modified_is_a_time(self):
        # The level's version is this time: unreadable is bad input, not a crash in the flow.
        if self.modified is not None and from_jst_text(self.modified) is None:
            raise ValueError(f"modified {self.modified[:40]!r} is not yyyy-MM-dd HH:mm:ss")
        return self


class StockPush(PushBody):
    """库存同步 (inventory.upload): ``datas`` (ShopeX); the new push's ``items`` is accepted too."""

    datas: list[StockRow] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _items_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "datas" not in data and isinstance(data.get("items"), list):
            return {**data, "datas": data["items"]}
        return data


def parse_push_text(raw: str, content_type: str) -> dict[str, Any]:
    """The push's JSON object, from a JSON body or a form's ``biz`` field; BadRequest otherwise."""
    if not raw.strip():
        raise BadRequest("empty body: expected a JSON object or a form with a biz field")
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(f"body larger than {MAX_BODY_BYTES} bytes")
    text = raw
    if "application/x-www-form-urlencoded" in content_type.lower() or (not raw.lstrip().startswith(("{", "[")) and "biz=" in raw):
        try:
            form = parse_qs(raw, keep_blank_values=True, max_num_fields=100)
        except ValueError:
            raise BadRequest("form body has too many fields") from None
        if "biz" not in form:
            raise BadRequest("form body has no biz field")
        text = form["biz"][0]
    try:
        body = json.loads(text)
    except RecursionError:
        raise BadRequest(f"body nests deeper than {MAX_NESTING} levels") from None
    except ValueError as exc:
        where = f": {exc.msg} at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        raise BadRequest(f"body is not valid JSON{where}") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    if _depth(body) > MAX_NESTING:
        raise BadRequest(f"body nests deeper than {MAX_NESTING} levels")
    return body


def _depth(value: Any) -> int:
    deepest, level = 0, [(value, 1)]
    while level:
        item, depth = level.pop()
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            return depth
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        level.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


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


# --- authentication ---------------------------------------------------------------------------
#
# JST's push sign (old-API, §6.1) is md5(method + partnerid + k1v1k2v2... + partnerkey) over the
# query string, not the body. A push is accepted only when that sign covers
#   - the route's push method (a logistics push cannot be replayed on the cancel route),
#   - this tenant: entId and storageCode are query parameters, so they are inside the sign,
#   - a ts within the tenant's window (callback.max_age_seconds, default 10 min either way).
# Signs are not remembered: two genuine pushes of one method in one second carry one sign.
# What the sign cannot cover (the body) is bounded by the flows: see docs/security.md.

# The push method each route's sign must name (§6.1: ShopeX's Verify.php). The cancel push's
# method is unknown (§8): CallbackAuth.cancel_method names it; unset, the cancel route accepts
# any method except the three that belong to the other routes.
ROUTE_METHODS: dict[str, str | None] = {
    "delivery": "logistics.upload",
    "cancel": None,
    "return_goods": "refund.goods",
    "stock": "inventory.upload",
}
REFUSED = "push not authenticated for this callback URL"


@dataclass(frozen=True)
class PushCredentials:
    """What a tenant accepts as proof that a push comes from its JST (CallbackAuth, revealed)."""

    partner_key: str | None
    token: str | None
    allow_unsigned: bool = False
    accept: frozenset[str] = frozenset({"sign", "token"})  # of the configured ones
    max_age_seconds: int = 600
    cancel_method: str | None = None
    # The plain token on every URL, as set up before URLs carried their own (migration).
    tenant_wide_token: bool = True


def url_token(token: str, *, ent_id: str, route: str, storage_code: str) -> str:
    """The token of one callback URL: the tenant's token keyed over this tenant, route and
    storageCode, so a URL copied from one callback (or one warehouse's stock URL) proves
    nothing on another. ``o2o tenant urls --reveal-token`` prints them."""
    message = f"o2o-bridge jst callback\n{ent_id}\n{route}\n{storage_code}".encode("utf-8")
    return hmac.new(token.encode("utf-8"), message, hashlib.sha256).hexdigest()[:32]


# Unknown tenants are verified against these, so a stranger's push costs the same work and
# gets the same answer as a push with a wrong credential for a real tenant.
_DUMMY = PushCredentials(partner_key=_random.token_hex(16), token=_random.token_hex(16))


class PushRefused(Unauthorized):
    """401 with one answer for every reason; the reason goes to the log only."""

    def __init__(self, reason: str) -> None:
        super().__init__(REFUSED)
        self.reason = reason


def verify_push(query: Mapping[str, str], *, route: str, credentials: PushCredentials | None,
                storage_ok: bool, now: float | None = None) -> str:
    """How the push proved it comes from this tenant's JST: "sign", "token" (this URL's own),
    "tenant-wide token" (the migration allowance) or "unsigned".

    Raises PushRefused (401, one message) for an unknown tenant (``credentials`` None), a
    storageCode that is not the tenant's, a wrong or stale sign or a wrong token. Every call
    computes one sign and one URL token and makes three comparisons, whatever the outcome.
    """
    known = credentials is not None
    creds = credentials if credentials is not None else _DUMMY
    given_sign, given_token = query.get("sign") or "", query.get("token") or ""
    sign_ok = _equal(given_sign.strip().lower(), _expected_sign(query, creds.partner_key or _DUMMY.partner_key))
    this_url = url_token(creds.token or _DUMMY.token, ent_id=query.get("entId") or "", route=route,
                         storage_code=query.get("storageCode") or "")
    url_token_ok = _equal(given_token, this_url)
    tenant_token_ok = _equal(given_token, creds.token or _DUMMY.token)
    method = query.get("method") or ""
    method_ok = _method_fits(method, route, creds.cancel_method)
    fresh = _fresh(query.get("ts"), creds.max_age_seconds, time.time() if now is None else now)

    by_sign = bool(creds.partner_key) and "sign" in creds.accept
    by_token = bool(creds.token) and "token" in creds.accept
    if by_sign and (given_sign or not by_token):
        how, proven = "sign", bool(given_sign) and sign_ok and method_ok and fresh
        reason = ("no sign" if not given_sign else "sign does not match the partner key" if not sign_ok
                  else f"method {query.get('method')!r} is not the {route} push" if not method_ok
                  else "ts outside the accepted window (replay or clock)")
    elif by_token:
        # The token proves the URL; JST still adds method and ts to a push (unsigned, so only a
        # verbatim replay of a captured request is stopped by them): when present, they must fit.
        how = "token" if url_token_ok else "tenant-wide token"
        token_ok = url_token_ok or (creds.tenant_wide_token and tenant_token_ok)
        method_fits = not method or method_ok
        ts_fits = not query.get("ts") or fresh
        proven = bool(given_token) and token_ok and method_fits and ts_fits
        reason = ("no token" if not given_token
                  else "tenant-wide token, but tenant_wide_token is false" if tenant_token_ok and not token_ok
                  else "token does not match this URL" if not token_ok
                  else f"method {method!r} is not the {route} push" if not method_fits
                  else "ts outside the accepted window (replay or clock)")
    else:
        how, proven, reason = "unsigned", creds.allow_unsigned, "no credential configured"
    if known and storage_ok and proven:
        return how
    raise PushRefused("unknown entId" if not known else "storageCode is not the tenant's" if not storage_ok else reason)


def _expected_sign(query: Mapping[str, str], partner_key: str) -> str:
    # Every query parameter but sign is covered, our URL's entId / storageCode / type included
    # (ShopeX signs all of them): a sign made for another tenant or warehouse does not fit.
    covered = {k: v for k, v in query.items() if k not in {"sign", "method", "partnerid"}}
    return legacy_push_sign(query.get("method") or "", query.get("partnerid") or "", covered, partner_key)


def _equal(given: str, expected: str) -> bool:
    # Bytes, so a non-ASCII value is a mismatch rather than a TypeError.
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


def _method_fits(method: str, route: str, cancel_method: str | None) -> bool:
    expected = ROUTE_METHODS[route] if route != "cancel" else cancel_method
    if expected is not None:
        return method == expected
    return bool(method) and method not in {m for m in ROUTE_METHODS.values() if m}


def _fresh(ts: str | None, max_age_seconds: int, now: float) -> bool:
    if max_age_seconds == 0:  # the tenant switched the window off explicitly
        return True
    at = _parse_ts(ts)
    return at is not None and abs(now - at) <= max_age_seconds


def _parse_ts(ts: str | None) -> float | None:
    if not ts:
        return None
    text = ts.strip()
    if text.isascii() and text.isdigit() and len(text) <= 13:
        value = int(text)
        return value / 1000 if value > 10**11 else float(value)  # milliseconds or seconds
    moment = from_jst_text(text[:32])
    return moment.timestamp() if moment is not None else None
