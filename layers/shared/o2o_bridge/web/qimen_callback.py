"""The edge of ``POST /qimen/callback``: the WMS's calls through the 奇门 gateway.

Every answer is HTTP 200 with 奇门's XML ``<response><flag/><code/><message/></response>``
(the gateway reads the flag, not the status): ``success`` when the message took effect or
was taken before; ``failure`` with a code otherwise, and then nothing was written:

| code | when |
|---|---|
| ``sign-check-failure`` | bad sign, unknown tenant, tenant without a 奇门 section (one answer for all three) |
| ``invalid-timestamp`` | ``timestamp`` outside the tenant's ``callback_max_skew_seconds`` |
| ``invalid-customer-id`` | ``customerId`` is not the tenant's |
| ``invalid-method`` | a method the bridge does not take |
| ``invalid-request`` | malformed or hostile XML, a body too large, a missing or wrong field |
| ``order-not-found`` | a confirm of a document the bridge did not create |
| ``not-implemented`` | a path of the bridge not built yet (none today) |
| ``retry-later`` | a transient failure: the WMS should send the message again |
| ``internal-error`` | anything unexpected (logged) |
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .http import HttpResolver, Response

from ..connectors.qimen.inbound import MAX_BODY_BYTES, CallbackRefused, QimenCall, answer_document, query_of, read_callback
from ..errors import BridgeError, NotImplementedYet, TransientError
from ..observability import logger

if TYPE_CHECKING:
    from ..ports import SecretResolver
    from ..tenant import TenantRepository

XML = "text/xml; charset=utf-8"


def qimen_answer(flag: str, code: str, message: str) -> Response:
    return Response(status_code=200, content_type=XML, body=answer_document(flag, code, message).decode("utf-8"))


def read_call(event: Any, tenants: "TenantRepository", secrets: "SecretResolver",
              now: datetime | None = None) -> QimenCall:
    """The authenticated call (connectors/qimen/inbound.py says in which order it is checked)."""
    query = query_of(event.get("rawQueryString"), event.get("queryStringParameters"))
    return read_callback(query, _raw_body(event), tenants, secrets, now or datetime.now(timezone.utc))


def _raw_body(event: Any) -> bytes:
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise CallbackRefused("invalid-request", "body must be an XML document")
    if event.get("isBase64Encoded"):
        if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
            raise CallbackRefused("invalid-request", f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise CallbackRefused("invalid-request", "body is not valid base64 (isBase64Encoded is true)") from None
    if len(body) > MAX_BODY_BYTES:
        raise CallbackRefused("invalid-request", f"body larger than {MAX_BODY_BYTES} bytes")
    return body.encode("utf-8", "surrogatepass")


def qimen_resolver() -> HttpResolver:
    """A resolver whose every answer, refusals and errors included, is 奇门 XML with HTTP 200."""
    from ..ports.warehouse import UnknownWarehouseDocument

    app = HttpResolver()

    @app.exception_handler(CallbackRefused)
    def refused(error: CallbackRefused) -> Response:
        logger.warning("奇门 call refused", extra={"code": error.code, "error": error.message})
        return qimen_answer("failure", error.code, error.message)

    @app.exception_handler(BridgeError)
    def bridge_error(error: BridgeError) -> Response:
        if isinstance(error, UnknownWarehouseDocument):
            code = "order-not-found"
        elif isinstance(error, NotImplementedYet):
            code = "not-implemented"
        elif isinstance(error, TransientError):
            code = "retry-later"
        else:
            code = "refused"
        log = logger.error if code in ("not-implemented", "refused") else logger.warning
        log("奇门 call not taken", extra={"code": code, "error": error.message, "error_type": type(error).__name__})
        return qimen_answer("failure", code, error.message)

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("unexpected error")
        request_id = getattr(getattr(app, "lambda_context", None), "aws_request_id", "-")
        return qimen_answer("failure", "internal-error", f"internal error (request {request_id})")

    @app.not_found
    def not_found(_: Exception) -> Response:
        return Response(status_code=404, content_type=XML,
                        body=answer_document("failure", "not-found", "no such route").decode("utf-8"))

    return app


def qimen_internal_error(request_id: str) -> dict[str, Any]:
    """What an invocation that failed outside the resolver answers (outermost.py): 奇门's failure."""
    return {"statusCode": 200, "headers": {"Content-Type": XML}, "isBase64Encoded": False,
            "body": answer_document("failure", "internal-error", f"internal error (request {request_id})").decode("utf-8")}
