"""What every function does with an exception nothing else caught, and when its request began.

The resolvers and the scheduled runs catch, log (redacted) and answer their own errors. What
escapes them anyway (a bug on the way out of an invocation, a Powertools decorator, a flush)
would reach the Lambda runtime, which prints the exception's message, its chained causes and
its traceback as they are, and the X-Ray SDK would record its message: a secret in any of them
would leave unredacted. ``contain_failures`` wraps each ``lambda_handler`` just inside the
tracer (so X-Ray sees only what it lets through) and outside the logger and metrics decorators:

- the failure is logged through the bridge's logger ("invocation failed"), whose formatter
  redacts the message, every field and the traceback, chained causes included;
- an HTTP function then answers a generic 500 in its caller's format (``answer``), the same
  answer its resolver gives an unexpected error;
- a queue or scheduled function raises ``InvocationFailed``: its message names the exception's
  type and the request id only, and it is raised outside the ``except`` block, so it carries
  neither cause nor context. The invocation still fails, so SQS and the scheduler retry it.

It also marks when the request began: a refusal at a public edge is answered at a deadline
counted from there (refusal_time.py).

Nothing heavy is imported before a failure (health keeps its cold start small).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable

from . import refusal_time

FailureAnswer = Callable[[str], dict[str, Any]]


class InvocationFailed(Exception):
    """An invocation failed; the redacted details are in the log line "invocation failed"."""


def contain_failures(answer: FailureAnswer | None = None) -> Callable[[Callable[[Any, Any], Any]], Callable[[Any, Any], Any]]:
    """The wrapper (module docstring); ``answer(request_id)`` builds an HTTP function's 500."""

    def wrap(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        @functools.wraps(handler)
        def contained(event: Any, context: Any) -> Any:
            refusal_time.request_began(event)
            try:
                return handler(event, context)
            except Exception as error:  # noqa: BLE001 - the last place a failure is seen before the runtime
                request_id = _log_failure(error, context)
                if answer is not None:
                    return answer(request_id)
                failure = InvocationFailed(f"{type(error).__name__} in request {request_id}: the redacted traceback "
                                           "is logged as \"invocation failed\"")
            finally:
                refusal_time.request_ended()
            raise failure  # outside the except block: no cause, no context, no secret

        contained.o2o_contains_failures = True  # type: ignore[attr-defined]
        return contained

    return wrap


def _log_failure(error: Exception, context: Any) -> str:
    request_id = str(getattr(context, "aws_request_id", "") or "-")
    try:
        from .observability import logger

        logger.exception("invocation failed", extra={"error_type": type(error).__name__, "request_id": request_id})
    except Exception:  # noqa: BLE001 - logging itself failed: the generic answer still goes out
        pass
    return request_id


def internal_error_message(request_id: str) -> str:
    return f"internal error (request {request_id}); see the logs"


def json_internal_error(request_id: str) -> dict[str, Any]:
    """HTTP 500 ``{"code": 500, "msg": ...}``: JST's and the store system's error shape."""
    return {"statusCode": 500, "headers": {"Content-Type": "application/json; charset=utf-8"}, "isBase64Encoded": False,
            "body": json.dumps({"code": 500, "msg": internal_error_message(request_id)}, ensure_ascii=False)}
