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


def test_a_tenant_not_cached_is_read_with_the_records_the_work_names_in_one_request(aws):
    """A queued stock flush names what it reads first (its marker, its levels): a worker that has
    no tenant cached reads the tenant with them (one BatchGetItem); the work's RecordView then
    answers its batch of them from there. A cached tenant: nothing read ahead."""
    from collections import Counter

    from o2o_bridge.connectors.aws.dynamodb_state import RecordView

    runtime.reset()
    client = runtime.aws_client("dynamodb")
    calls = Counter()
    client.meta.events.register("before-call.dynamodb", lambda event_name, **_: calls.update([event_name]))
    writer = DynamoStateStore(client, runtime.settings().state_table)
    writer.put(parse_tenant(demo_doc()))
    writer.put_record("10010", "stock.store", "A|S001", {"qty": 3, "version": 1})
    calls.clear()
    store = DynamoStateStore(client, runtime.settings().state_table)  # a new container: nothing cached
    wanted = [("stock.dirty", " flush"), ("stock.store", "A|S001")]
    tenant, found = store.get_with_records("10010", wanted)
    assert tenant.ent_id == "10010" and list(found) == [("stock.store", "A|S001")]
    assert calls == Counter({"before-call.dynamodb.BatchGetItem": 1})
    records = RecordView(store)
    records.remember_read("10010", wanted, found)
    assert records.get_many_of("10010", wanted)[("stock.store", "A|S001")].data["qty"] == 3
    assert records.get_many_of("10010", wanted[:1]) == {}  # absent, as read
    assert calls == Counter({"before-call.dynamodb.BatchGetItem": 1})  # answered from what was read
    from o2o_bridge.ports import TogetherWrite

    records.write_together("10010", [TogetherWrite("stock.store", "A|S001", {"qty": 4, "version": 2})])
    calls.clear()
    # a write of this work: what it touched is read again
    assert records.get_many_of("10010", wanted)[("stock.store", "A|S001")].data["qty"] == 4
    assert store.get_with_records("10010", wanted) == (tenant, None)  # cached now: nothing read ahead
    assert calls == Counter({"before-call.dynamodb.BatchGetItem": 1})
