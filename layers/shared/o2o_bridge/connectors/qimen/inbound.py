"""The WMS's calls to ``POST /qimen/callback``, read and authenticated before anything else.

The gateway forwards the WMS's call with 奇门's system parameters plus our ``entId`` in the
query string and the XML ``<request>`` as the body. In order, nothing read or written before
the caller is proven:

1. The query string is read from the raw one (a repeated parameter is refused, it could be
   signed one way and read another), the body is bounded (``MAX_BODY_BYTES``) and taken as
   the exact bytes received.
2. ``entId`` names the tenant. An unknown tenant, a tenant without a 奇门 section and a bad
   sign get the same answer (``sign-check-failure``) after the same work (a sign is computed
   and compared either way), so a stranger learns nothing about which tenants exist.
3. The sign over every query parameter but ``sign`` (``entId`` included) and the raw body,
   with the tenant's 奇门 app secret; then ``timestamp`` within the tenant's allowed skew
   (a replay of an old call is refused), ``customerId`` the tenant's, ``method`` one the
   bridge handles.
4. Only then the XML is parsed (defusedxml: no DTD, no entities, bounded depth) and read into
   the method's document model; the document's warehouse must be the tenant's.

Every refusal is a ``CallbackRefused`` with a 奇门 error code; the handler answers HTTP 200
with ``<response><flag>failure</flag>…`` (``answer_document``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import parse_qsl

from pydantic import ValidationError

from ...errors import BridgeError
from ...refusal_time import read_like_a_tenant, refusals_answered_at_deadline
from .models import INBOUND_DOCUMENTS
from .signing import parse_timestamp, sign_matches
from .xml_codec import XmlRefused, dump_document, parse_document

if TYPE_CHECKING:
    from ...ports import SecretResolver
    from ...tenant import TenantRepository
    from ...tenant import Tenant

MAX_BODY_BYTES = 2 * 1024 * 1024
METHOD_PREFIX = "taobao.qimen."
SIGN_FAILURE_MESSAGE = "sign check failed"
_NO_SECRET = "no-tenant-has-this-secret"  # signs with it are never compared true: equal work only


class CallbackRefused(BridgeError):
    """A WMS call the bridge does not accept; ``code`` is the 奇门 error code answered."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class QimenCall:
    """An authenticated WMS call: its tenant, method (short name) and typed document; the
    message the tenant's warehouse takes (``key``, ``trace_key``: ports.WmsMessage)."""

    tenant: "Tenant"
    method: str
    document: Any
    raw_body: bytes
    query: dict[str, str]

    @property
    def message_key(self) -> str:
        """What makes this message itself: its ``outBizCode`` (奇门's dedup key), else a
        digest of the document, so a message sent twice is one message."""
        return message_key(self.method, self.document)

    # As a message the tenant's warehouse takes (ports.WmsMessage: QimenWarehouse.take_message).
    @property
    def key(self) -> str:
        return self.message_key

    @property
    def trace_key(self) -> str:
        from .messages import message_of

        return message_of(self.method, self.document, self.message_key).trace_key


def message_key(method: str, document: Any) -> str:
    from ...fingerprint import digest

    out_biz = _out_biz_code(document)
    if out_biz:
        return f"{method}:{out_biz}"
    return f"{method}:#{digest(document.model_dump(mode='json'))}"


def _out_biz_code(document: Any) -> str | None:
    for head in ("delivery_order", "return_order", "entry_order"):
        part = getattr(document, head, None)
        if part is not None:
            return part.out_biz_code
    if hasattr(document, "check_order_code"):
        return document.out_biz_code
    items = getattr(document, "items", None) or []
    codes = sorted({i.out_biz_code for i in items if getattr(i, "out_biz_code", None)})
    return "+".join(codes) if codes and len(codes) == len(items) else None


def short_method(method: str) -> str:
    return method[len(METHOD_PREFIX):] if method.startswith(METHOD_PREFIX) else method


def query_of(raw_query: str | None, fallback: Mapping[str, str] | None) -> dict[str, str]:
    """The query parameters, decoded once; a parameter given twice is refused."""
    if raw_query is None:
        return dict(fallback or {})
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    query: dict[str, str] = {}
    for key, value in pairs:
        if key in query:
            raise CallbackRefused("invalid-request", f"query parameter {key[:40]!r} is given more than once")
        query[key] = value
    return query


def read_callback(query: Mapping[str, str], raw_body: bytes, tenants: "TenantRepository",
                  secrets: "SecretResolver", now: datetime) -> QimenCall:
    """Steps 1-4 of the module docstring; ``CallbackRefused`` on any failure."""
    query = dict(query)
    if len(raw_body) > MAX_BODY_BYTES:
        raise CallbackRefused("invalid-request", f"body larger than {MAX_BODY_BYTES} bytes")
    ent_id = (query.get("entId") or "").strip()
    if not ent_id:
        raise CallbackRefused("invalid-request", "query parameter entId is required")

    with refusals_answered_at_deadline(CallbackRefused):  # answered at the deadline: a cold read does not show
        tenant = tenants.get(ent_id) if _plausible_ent_id(ent_id) else None
        section = getattr(tenant, "qimen", None) if tenant is not None else None
        if section is None and _plausible_ent_id(ent_id):
            read_like_a_tenant(ent_id, secrets)  # the read a 奇门 tenant's secret reference costs
        secret = (section.reveal("app_secret", secrets) if section is not None else None) or ""
        if not secret:
            # The very same check against a secret no tenant has, and the same answer as a bad sign.
            sign_matches(query, raw_body, _NO_SECRET)
            raise CallbackRefused("sign-check-failure", SIGN_FAILURE_MESSAGE)
        if not sign_matches(query, raw_body, secret):
            raise CallbackRefused("sign-check-failure", SIGN_FAILURE_MESSAGE)

    skew = section.callback_max_skew_seconds
    if skew:
        sent_at = parse_timestamp(query.get("timestamp") or "")
        if sent_at is None:
            raise CallbackRefused("invalid-timestamp", "timestamp must be yyyy-MM-dd HH:mm:ss (GMT+8)")
        if abs((now - sent_at).total_seconds()) > skew:
            raise CallbackRefused("invalid-timestamp", f"timestamp {query.get('timestamp')} is more than {skew}s "
                                                       "away from the bridge's clock")
    if (query.get("customerId") or "") != section.customer_id:
        raise CallbackRefused("invalid-customer-id", f"customerId {query.get('customerId', '')[:64]!r} is not "
                                                     f"tenant {ent_id}'s")
    method = short_method((query.get("method") or "").strip())
    model = INBOUND_DOCUMENTS.get(method)
    if model is None:
        raise CallbackRefused("invalid-method", f"method {method[:80]!r} is not one the bridge accepts; "
                                                f"accepted: {', '.join(METHOD_PREFIX + m for m in INBOUND_DOCUMENTS)}")
    try:
        content = parse_document(raw_body, expected_root="request", max_bytes=MAX_BODY_BYTES)
    except XmlRefused as exc:
        raise CallbackRefused("invalid-request", exc.message) from None
    try:
        document = model.model_validate(content)
    except ValidationError as exc:
        raise CallbackRefused("invalid-request", _problems(exc)) from None
    foreign = sorted(_warehouses_of(document) - {section.warehouse_code})
    if foreign:
        raise CallbackRefused("invalid-request", f"warehouseCode {', '.join(foreign)[:80]} is not tenant {ent_id}'s "
                                                 f"WMS warehouse {section.warehouse_code}")
    return QimenCall(tenant, method, document, raw_body, query)


def _plausible_ent_id(ent_id: str) -> bool:
    import re

    return re.fullmatch(r"[A-Za-z0-9_-]{1,64}", ent_id) is not None


def _warehouses_of(document: Any) -> set[str]:
    found: set[str] = set()
    for head in ("delivery_order", "return_order", "entry_order"):
        part = getattr(document, head, None)
        if part is not None:
            found.add(part.warehouse_code)
    if getattr(document, "warehouse_code", None):
        found.add(document.warehouse_code)
    for item in getattr(document, "items", None) or []:
        if getattr(item, "warehouse_code", None):
            found.add(item.warehouse_code)
    return found


def _problems(error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_url=False)[:5]:
        path = ".".join(str(part) for part in item["loc"])
        lines.append(f"{path}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)[:500]


def answer_document(flag: str, code: str, message: str) -> bytes:
    """The XML answer the gateway expects: ``<response><flag/><code/><message/></response>``."""
    return dump_document("response", {"flag": flag, "code": code, "message": message})
