import logging

from o2o_bridge.redaction import RedactingFilter, redact_text, secret_keys_in


def test_known_secret_values_and_secret_shaped_text_are_masked():
    text = "POST failed: app_secret=abc123456&access_token=tok-998877 Authorization: Bearer eyJhbGci.x.y sent to demo-app-secret"
    cleaned = redact_text(text, ["demo-app-secret"])
    for leaked in ("abc123456", "tok-998877", "eyJhbGci", "demo-app-secret"):
        assert leaked not in cleaned
    assert "POST failed" in cleaned


def test_payload_keys_that_look_secret_are_found_anywhere():
    payload = {"io_id": 1, "items": [{"sku": "A"}], "auth": {"access_token": "x"}, "pos_api_key": "y"}
    assert secret_keys_in(payload) == ["auth.access_token", "pos_api_key"]


def test_log_records_are_redacted_by_the_filter(caplog):
    log = logging.getLogger("o2o-test-redaction")
    log.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="o2o-test-redaction"):
        log.info("calling with access_token=%s", "access_token=leak-me-please")
    assert "leak-me-please" not in caplog.text


def test_the_bridge_logger_masks_extra_fields_and_tracebacks():
    import io
    import json

    from o2o_bridge.observability import logger
    from o2o_bridge.redaction import remember

    stream = io.StringIO()  # what the function's handler writes, whatever stdout is at the time
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)

    remember("sm-resolved-partner-key-123")  # as if read from Secrets Manager by tenant.reveal
    try:
        raise RuntimeError("JST said no to sm-resolved-partner-key-123 with access_token=tok-in-traceback")
    except RuntimeError:
        logger.exception("push failed", extra={"api_key": "pos-key-456", "query": {"token": "cb-token-789", "entId": "1"},
                                               "note": "sent sm-resolved-partner-key-123"})
    logger.removeHandler(handler)
    out = stream.getvalue()
    for leaked in ("sm-resolved-partner-key-123", "tok-in-traceback", "pos-key-456", "cb-token-789"):
        assert leaked not in out, leaked
    record = json.loads(out.strip().splitlines()[-1])
    assert record["query"]["entId"] == "1" and record["api_key"] == "****" and "RuntimeError" in record["exception"]


def test_a_revealed_secret_is_masked_in_dead_letters(aws):
    import boto3

    from o2o_bridge import runtime
    from o2o_bridge.redaction import remember
    from o2o_bridge.retry import DeadLetter

    remember("dlq-leak-secret-000")
    runtime.command_queue().dead_letter(DeadLetter(envelope=None, reason="store answered 401 for dlq-leak-secret-000",
                                                   error_type="PermanentError"))
    body = boto3.client("sqs").receive_message(QueueUrl=aws["RETRY_DLQ_URL"])["Messages"][0]["Body"]
    assert "dlq-leak-secret-000" not in body and "store answered 401" in body


def test_a_buyers_mobile_number_is_masked_but_order_and_waybill_numbers_are_not():
    text = 'store refused: {"receiver_mobile": "13812345678", "o_id": "3812345678901234", "l_id": "SF7381234567890"} call 15900001111'
    cleaned = redact_text(text)
    assert "13812345678" not in cleaned and "15900001111" not in cleaned
    assert "138****5678" in cleaned and "159****1111" in cleaned  # still tells two buyers apart
    assert "3812345678901234" in cleaned and "SF7381234567890" in cleaned
