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
