"""Powertools Tracer (X-Ray) for the handlers, built when first needed. Imports nothing heavy."""

from __future__ import annotations

import functools
import os
from typing import Any, Callable


def traced(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Powertools Tracer's ``capture_lambda_handler`` (X-Ray) around the invocations X-Ray records,
    built on the first of them rather than at import.

    Building a Tracer imports the X-Ray SDK, and with it botocore, which the handlers otherwise
    defer to their first AWS call: done at import it would cost every cold start that time
    (bench/cold_start.py). Outside Lambda (tests, the local stack, the CLI) or with
    POWERTOOLS_TRACE_DISABLED the handler runs untraced and the SDK is never imported.

    In Lambda, whether an invocation is recorded is Lambda's decision, made before the handler and
    handed to it in the trace header (``_X_AMZN_TRACE_ID``, ``Sampled=1``): with ``Tracing:
    PassThrough`` (template.yaml's TracingMode) and no caller that samples, never; with ``Active``,
    1 a second and 5 % of the rest. An invocation not recorded runs the bare handler: the Tracer's
    segment work would be thrown away (the SDK sends nothing for it), and with PassThrough the SDK
    is never imported at all.
    """
    wrapped: Callable[[Any, Any], Any] | None = None

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        nonlocal wrapped
        if not (tracing_wanted() and sampled()):
            return handler(event, context)
        if wrapped is None:
            wrapped = tracer().capture_lambda_handler(handler)
        return wrapped(event, context)

    return run


def tracing_wanted() -> bool:
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in ("1", "true", "yes", "on")
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) and not os.environ.get("AWS_SAM_LOCAL") and not disabled


def sampled() -> bool:
    """Whether X-Ray records this invocation: ``Sampled=1`` in the trace header Lambda sets for it
    (the runtime sets ``_X_AMZN_TRACE_ID`` before each invocation)."""
    header = os.environ.get("_X_AMZN_TRACE_ID", "")
    return any(part.strip() == "Sampled=1" for part in header.split(";"))


@functools.cache
def tracer():
    """The one Tracer. Only the two libraries that leave the function are patched (AWS calls,
    and JST / store-system calls over httpx), not every module the X-Ray SDK knows."""
    from aws_lambda_powertools import Tracer

    return Tracer(patch_modules=("botocore", "httpx"))
