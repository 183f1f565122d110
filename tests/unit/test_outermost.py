"""An exception that escapes a handler altogether is logged redacted, and what leaves the
function carries no secret: HTTP functions answer a generic 500 in their caller's format, queue
and scheduled functions still fail (so they are retried) with a message naming only the
exception's type and the request. The secret is put into an exception's message and into its
chained cause, as a library error echoing a request would."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import traceback
from contextlib import contextmanager
from pathlib import Path

import pytest

from handlers import invoke, sample_event
from o2o_bridge import runtime
from o2o_bridge.outermost import InvocationFailed, contain_failures
from o2o_bridge.redaction import remember

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sm-escaped-partner-key-4711"
FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))


@pytest.fixture
def log():
    """What the functions' logger writes, through its own (redacting) formatter."""
    from o2o_bridge.observability import logger

    remember(SECRET)  # as if read from Secrets Manager by tenant.reveal
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def leaky() -> None:
    try:
        raise KeyError(f"partner_key {SECRET} rejected by the library")
    except KeyError as cause:
        raise RuntimeError(f"calling JST with {SECRET} failed") from cause


class Context:
    aws_request_id = "req-42"


def test_a_queue_or_scheduled_function_still_fails_and_nothing_it_raises_carries_the_secret(log):
    @contain_failures()
    def handler(event, context):
        leaky()

    with pytest.raises(InvocationFailed) as raised:
        handler({}, Context())
    error = raised.value
    shown = "".join(traceback.format_exception(error))  # what the Lambda runtime prints
    assert SECRET not in shown and "RuntimeError in request req-42" in shown
    assert error.__cause__ is None and error.__context__ is None
    record = json.loads(log.getvalue().strip().splitlines()[-1])
    assert record["message"] == "invocation failed" and record["error_type"] == "RuntimeError"
    assert "KeyError" in record["exception"] and "RuntimeError" in record["exception"]  # the cause is logged too
    assert SECRET not in log.getvalue()


def test_an_http_function_answers_a_generic_500_in_its_callers_format(log):
    from o2o_bridge.outermost import json_internal_error

    @contain_failures(json_internal_error)
    def handler(event, context):
        leaky()

    answer = handler({}, Context())
    assert answer["statusCode"] == 500
    assert json.loads(answer["body"]) == {"code": 500, "msg": "internal error (request req-42); see the logs"}
    assert SECRET not in log.getvalue() and "invocation failed" in log.getvalue()


def test_a_handler_that_does_not_fail_is_untouched():
    assert contain_failures()(lambda event, context: {"ok": event})({"x": 1}, Context()) == {"ok": {"x": 1}}


def load_handler(function: str):
    spec = importlib.util.spec_from_file_location(f"o2o_fn_{function}", ROOT / "functions" / function / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_contains_its_failures_just_inside_the_tracer(function):
    """So neither the Lambda runtime nor X-Ray ever sees an exception that escaped unredacted."""
    handler = load_handler(function)
    assert getattr(handler.__wrapped__, "o2o_contains_failures", False), \
        f"{function}: lambda_handler must be @traced then @contain_failures(...) (o2o_bridge/outermost.py)"
    assert handler.__wrapped__.__wrapped__ is not None


@contextmanager
def failing_invocation(context):
    """A failure outside every resolver and scheduled run (as the invocation's set-up could fail)."""
    leaky()
    yield


@pytest.mark.parametrize("function, event, status, answered", [
    ("delivery_callback", "delivery_callback", 500, '"code": 500'),
    ("pos_events", "pos_events_stock_changed", 500, '"code": 500'),
    ("qimen_callback", "qimen_callback", 200, "<code>internal-error</code>"),
])
def test_real_http_functions_answer_500_without_the_secret(aws, log, monkeypatch, function, event, status, answered):
    monkeypatch.setattr(runtime, "invocation", failing_invocation)
    result = invoke(function, sample_event(event))
    assert result["statusCode"] == status and answered in result["body"] and SECRET not in result["body"]
    assert "invocation failed" in log.getvalue() and SECRET not in log.getvalue()


@pytest.mark.parametrize("function", ["retry_worker", "poll_jst_outbound"])
def test_real_queue_and_scheduled_functions_fail_without_the_secret(aws, log, monkeypatch, function):
    monkeypatch.setattr(runtime, "invocation", failing_invocation)
    event = {"Records": [{"messageId": "m1", "body": "{}", "eventSource": "aws:sqs"}]} if function == "retry_worker" else None
    with pytest.raises(Exception) as raised:
        invoke(function, event)
    shown = "".join(traceback.format_exception(raised.value))
    assert SECRET not in shown and "RuntimeError in request" in shown
    assert SECRET not in log.getvalue()
