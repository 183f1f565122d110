"""A container keeps a tenant's configuration for O2O_TENANT_CACHE_SECONDS (60 by default):
a tenant file put meanwhile (another process: `o2o tenant put`) takes effect after that, or at
once with 0 (what `make demo` sets, as it changes the tenant mid-run)."""

from __future__ import annotations

import pytest

from o2o_bridge import runtime
from o2o_bridge.connectors.aws.dynamodb_state import DynamoStateStore
from o2o_bridge.tenant import parse_tenant
from test_tenant_model import demo_doc


@pytest.mark.parametrize(("seconds", "sees_the_change"), [(None, False), ("0", True)])
def test_a_tenant_put_elsewhere_is_seen_after_the_cache_time(aws, monkeypatch, seconds, sees_the_change):
    if seconds is not None:
        monkeypatch.setenv("O2O_TENANT_CACHE_SECONDS", seconds)
    runtime.reset()
    doc = demo_doc()
    runtime.state_store().put(parse_tenant(doc))
    assert runtime.state_store().get("10010").name == doc["name"]  # read, and kept
    other_process = DynamoStateStore(runtime.aws_client("dynamodb"), runtime.settings().state_table)
    other_process.put(parse_tenant({**doc, "name": "改名的商户"}))
    assert (runtime.state_store().get("10010").name == "改名的商户") is sees_the_change


def test_a_cache_time_that_is_not_a_number_is_a_clear_configuration_error(monkeypatch):
    from o2o_bridge.errors import ConfigurationError
    from o2o_bridge.settings import Settings

    env = {"STATE_TABLE": "t", "IDEMPOTENCY_TABLE": "i", "RETRY_QUEUE_URL": "q", "RETRY_DLQ_URL": "d",
           "O2O_TENANT_CACHE_SECONDS": "a minute"}
    with pytest.raises(ConfigurationError, match="O2O_TENANT_CACHE_SECONDS"):
        Settings.from_env(env)
