"""The store system's inbound edge, ``POST /pos/events`` (docs/openapi/pos-api.yaml):
authenticate, then read the event.

Authentication runs first, in ``verify_signature`` (a resolver middleware), on the raw body
exactly as received (base64-decoded when API Gateway says ``isBase64Encoded``), before the
body is read into any model:

1. ``X-O2O-Signature`` missing or not ``sha256=<hex>``: 401, nothing else is looked at.
2. The body is bounded (``MAX_BODY_BYTES``) and decoded with the standard JSON parser
   only to learn ``ent_id``: the secret that proves the body is per tenant, and the
   contract puts the tenant in the signed body, not in a header. No other field is read;
   a body that is not a JSON object or has no string ``ent_id`` is 422.
3. ``ent_id`` not a registered tenant: 404 (an id that cannot be one is not looked up).
4. HMAC-SHA256(tenant webhook_secret, raw body) compared in constant time: 401 on mismatch,
   which also refuses a body signed with tenant A's secret that names tenant B.
5. ``X-O2O-Event-Id`` present and equal to the (now authentic) body's ``event_id``: 422.

Only then does ``read_event`` validate the decoded body against the event models (422
naming the field) and refuse an event whose ``occurred_at`` is outside the tenant's window
(422). Nothing on this path writes anything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable

from ...errors import Unauthorized, UnknownTenant, UnprocessableRequest
from ...events.models import PosEvent, parse_event

if TYPE_CHECKING:
    from ...ports import SecretResolver
    from ...tenant import Tenant, TenantRepository

SIGNATURE_HEADER = "X-O2O-Signature"
EVENT_ID_HEADER = "X-O2O-Event-Id"
SIGNATURE_SCHEME = "sha256="
MAX_BODY_BYTES = 1024 * 1024  # a stock.changed of ~15 000 SKUs; larger is refused unread
ENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # the Tenant model's ent_id pattern

CONTEXT_KEY = "pos_signed_request"


@dataclass(frozen=True)
class SignedRequest:
    """A request whose body was signed with its tenant's webhook secret."""

    raw_body: bytes
    body: dict[str, Any]
    tenant: "Tenant"


def sign(secret: str, raw_body: bytes) -> str:
    """The ``X-O2O-Signature`` value for ``raw_body`` (the store system's side, and tests)."""
    return SIGNATURE_SCHEME + hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()


def authenticate(event: Any, tenants: "TenantRepository", secrets: "SecretResolver") -> SignedRequest:
    """Steps 1-5 of the module docstring over a Powertools HTTP API event."""
    signature = (event.headers.get(SIGNATURE_HEADER) or "").strip()
    if not signature:
        raise Unauthorized(f"header {SIGNATURE_HEADER} is required (sha256=<hex HMAC-SHA256 of the body>)")
    if not signature.lower().startswith(SIGNATURE_SCHEME):
        raise Unauthorized(f"header {SIGNATURE_HEADER} must be sha256=<hex HMAC-SHA256 of the body>")

    raw = raw_body(event)
    body = _decode(raw)
    ent_id = body.get("ent_id")
    if isinstance(ent_id, int) and not isinstance(ent_id, bool):
        ent_id = str(ent_id)
    if not isinstance(ent_id, str) or not ent_id.strip():
        raise UnprocessableRequest("ent_id: field required (the tenant's entId)")
    ent_id = ent_id.strip()
    tenant = tenants.get(ent_id) if ENT_ID.fullmatch(ent_id) else None
    if tenant is None:
        raise UnknownTenant(ent_id[:64])

    secret = tenant.pos.reveal("webhook_secret", secrets) or ""
    expected = sign(secret, raw).encode("ascii")
    given = (SIGNATURE_SCHEME + signature[len(SIGNATURE_SCHEME):].lower()).encode("utf-8", "surrogatepass")
    if not secret or not hmac.compare_digest(expected, given):
        raise Unauthorized(f"header {SIGNATURE_HEADER} does not match the body signed with tenant {ent_id}'s webhook secret")

    event_id = (event.headers.get(EVENT_ID_HEADER) or "").strip()
    if not event_id:
        raise UnprocessableRequest(f"header {EVENT_ID_HEADER} is required")
    body_event_id = body.get("event_id")
    if isinstance(body_event_id, (str, int)) and not isinstance(body_event_id, bool) and str(body_event_id).strip() != event_id:
        raise UnprocessableRequest(f"header {EVENT_ID_HEADER} does not match the body's event_id")
    return SignedRequest(raw, body, tenant)


def verify_signature(tenants: Callable[[], "TenantRepository"], secrets: Callable[[], "SecretResolver"]):
    """A resolver middleware: authenticate the request, then hand the route a SignedRequest.

    The route finds it in ``app.context[CONTEXT_KEY]``; the repositories are given as
    factories so nothing is built before the first request.
    """

    # ``app`` is the function's resolver (web/http.py, which a connector does not import).
    def middleware(app: Any, next_middleware: Callable[..., Any]) -> Any:
        app.append_context(**{CONTEXT_KEY: authenticate(app.current_event, tenants(), secrets())})
        return next_middleware(app)

    return middleware


def read_event(app: Any, now: datetime | None = None) -> tuple[PosEvent, "Tenant"]:
    """The typed event and its tenant; only after ``verify_signature`` passed.

    An event that happened outside the tenant's window (``pos.event_max_age_hours`` back,
    ``pos.event_max_ahead_seconds`` ahead) is 422: the signature proves who sent it, not when,
    and an idempotency record does not live forever.
    """
    signed: SignedRequest = app.context[CONTEXT_KEY]
    event = parse_event(signed.body)
    check_window(event, signed.tenant, now)
    return event, signed.tenant


def check_window(event: PosEvent, tenant: "Tenant", now: datetime | None = None) -> None:
    now = now or datetime.now(timezone.utc)
    oldest = now - timedelta(hours=tenant.pos.event_max_age_hours)
    latest = now + timedelta(seconds=tenant.pos.event_max_ahead_seconds)
    if event.occurred_at < oldest:
        raise UnprocessableRequest(f"occurred_at: {event.occurred_at.isoformat()} is older than "
                                   f"{tenant.pos.event_max_age_hours} h: refused (a replay?); nothing was written")
    if event.occurred_at > latest:
        raise UnprocessableRequest(f"occurred_at: {event.occurred_at.isoformat()} is more than "
                                   f"{tenant.pos.event_max_ahead_seconds} s ahead of the bridge's clock: refused")


def raw_body(event: Any) -> bytes:
    """The body bytes as the store system sent them."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise UnprocessableRequest("body: must be a JSON object")
    if event.get("isBase64Encoded"):
        if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
            raise UnprocessableRequest(f"body: larger than {MAX_BODY_BYTES} bytes")
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise UnprocessableRequest("body: not valid base64 (isBase64Encoded is true)") from None
    # API Gateway hands over text bodies as str; lone surrogates cannot come from the wire.
    return body.encode("utf-8", "surrogatepass")


def _decode(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise UnprocessableRequest("body: required (a JSON object)")
    if len(raw) > MAX_BODY_BYTES:
        raise UnprocessableRequest(f"body: larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise UnprocessableRequest("body: not valid JSON") from None
    if not isinstance(body, dict):
        raise UnprocessableRequest("body: must be a JSON object")
    return body
