"""Resolvers whose errors come out in the caller's own answer format.

JST expects ``{"code": 0, "msg": "执行成功"}`` on success and a non-zero ``code`` with a
message otherwise; the store system expects ``{"code": 0, "msg": "ok"}``. Every
BridgeError maps to one status: bad input 4xx (nothing written), not-implemented 501,
transient 503 (the caller retries), anything unexpected 500 without internals.
"""

from __future__ import annotations

import json
from typing import Any

from .http import HttpResolver, Response

from ..errors import BadRequest, BridgeError, NotImplementedYet, TransientError
from ..observability import logger
from ..outermost import internal_error_message
from ..redaction import redact_text

JST_OK = {"code": 0, "msg": "执行成功"}
POS_OK = {"code": 0, "msg": "ok"}


def json_response(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type="application/json; charset=utf-8",
                    body=json.dumps(body, ensure_ascii=False))


def status_of(error: BridgeError) -> int:
    if isinstance(error, BadRequest):
        return error.status_code
    if isinstance(error, NotImplementedYet):
        return 501
    if isinstance(error, TransientError):
        return 503
    return 500


def coded_resolver() -> HttpResolver:
    """An HTTP API resolver answering ``{"code": <non-zero>, "msg": ...}`` on every error."""
    app = HttpResolver()

    @app.exception_handler(BridgeError)
    def bridge_error(error: BridgeError) -> Response:
        status = status_of(error)
        log = logger.warning if status < 500 or status == 501 else logger.error
        # A refusal whose answer is the same for every reason (PushRefused) logs the reason.
        reason = getattr(error, "reason", None)
        log("request refused", extra={"status": status, "error": error.message, "error_type": type(error).__name__,
                                      **({"reason": reason} if reason else {})})
        # No secret this process has revealed leaves in an answer, whatever text an error carries.
        return json_response(status, {"code": status, "msg": redact_text(error.message)})

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("unexpected error")
        request_id = getattr(getattr(app, "lambda_context", None), "aws_request_id", "-")
        return json_response(500, {"code": 500, "msg": internal_error_message(request_id)})

    @app.not_found
    def not_found(_: Exception) -> Response:
        return json_response(404, {"code": 404, "msg": "no such route"})

    return app
