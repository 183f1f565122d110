"""The template model, on the fixture template and on the repository's template.yaml."""

from __future__ import annotations

import pytest

from o2o_local.cfn_yaml import load_cfn_yaml
from o2o_local.cron import next_fire, parse_expression
from o2o_local.environment import local_environment
from o2o_local.names import local_name
from o2o_local.template import Route, TemplateError, default_template_path, load_template

from local_stack_paths import FIXTURE_TEMPLATE, FIXTURES, REPO_TEMPLATE


def test_short_tags_become_long_form_intrinsics():
    doc = load_cfn_yaml("""
a: !Ref Stage
b: !GetAtt Queue.Arn
c: !Sub ["${X}-y", {X: !Ref Stage}]
d: !If [IsProd, 1, 2]
e: !Join ["-", [a, b]]
f: !Equals [!Ref Stage, prod]
g: !Select [0, !GetAZs ""]
h: 2010-09-09
""")
    assert doc["a"] == {"Ref": "Stage"}
    assert doc["b"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert doc["c"] == {"Fn::Sub": ["${X}-y", {"X": {"Ref": "Stage"}}]}
    assert doc["d"] == {"Fn::If": ["IsProd", 1, 2]}
    assert doc["e"] == {"Fn::Join": ["-", ["a", "b"]]}
    assert doc["f"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    assert doc["g"] == {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    assert doc["h"] == "2010-09-09"


def test_fixture_functions(fixture_template):
    functions = fixture_template.functions
    assert set(functions) == {"echo", "boom", "tick", "consumer"}
    echo = functions["echo"]
    assert echo.logical_id == "EchoFunction"
    assert echo.code_dir == FIXTURES / "functions" / "echo"
    assert echo.handler == "app.lambda_handler"
    assert (echo.timeout, echo.memory) == (10, 256)  # Globals
    assert echo.routes == [Route("GET", "/echo"), Route("POST", "/items/{id}"), Route("ANY", "/files/{proxy+}")]
    assert echo.trigger == "http"
    tick = functions["tick"]
    assert (tick.timeout, tick.memory) == (30, 512)  # its own values win over Globals
    nightly, every_minute = tick.schedules
    assert (nightly.expression, nightly.timezone, nightly.name) == ("cron(10 2 * * ? *)", "Asia/Shanghai", "Nightly")
    assert nightly.event() == {"kind": "nightly"} and nightly.enabled
    # the AWS::Scheduler::Schedule resource targeting the function
    assert (every_minute.expression, every_minute.timezone, every_minute.name) == ("rate(1 minute)", "UTC", "TickEveryMinute")
    assert every_minute.event() == {} and not every_minute.enabled
    (source,) = functions["consumer"].sqs_sources
    assert (source.queue_logical_id, source.batch_size, source.report_batch_item_failures) == ("WorkQueue", 5, True)


def test_fixture_tables(fixture_template):
    state = fixture_template.tables["StateTable"]
    kwargs = state.create_table_kwargs(local_name("StateTable"))
    assert kwargs["TableName"] == "o2o-local-StateTable"  # not the template's TableName
    assert kwargs["BillingMode"] == "PAY_PER_REQUEST"
    assert kwargs["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert [d["AttributeName"] for d in kwargs["AttributeDefinitions"]] == ["pk", "sk", "gsi1pk", "gsi1sk"]
    (gsi,) = kwargs["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "gsi1" and gsi["Projection"] == {"ProjectionType": "ALL"}
    assert "ProvisionedThroughput" not in kwargs and "PointInTimeRecoverySpecification" not in kwargs
    assert state.ttl_attribute == "expires_at"
    assert fixture_template.tables["IdempotencyTable"].ttl_attribute == "expiration"


def test_provisioned_table_gets_throughput():
    from o2o_local.template import TableSpec

    table = TableSpec("T", {"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                            "GlobalSecondaryIndexes": [{"IndexName": "g", "KeySchema": [], "Projection": {}}]})
    kwargs = table.create_table_kwargs()
    assert kwargs["BillingMode"] == "PROVISIONED"
    assert kwargs["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    assert kwargs["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["ReadCapacityUnits"] == 5


def test_fixture_queues(fixture_template):
    work, dlq = fixture_template.queues["WorkQueue"], fixture_template.queues["WorkDLQ"]
    assert work.attributes == {"VisibilityTimeout": "60"}  # !Ref WorkVisibility -> its default
    assert (work.redrive_target, work.max_receive_count) == ("WorkDLQ", 2)
    assert dlq.attributes == {"MessageRetentionPeriod": "1209600"} and dlq.redrive_target is None
    assert work.local_queue_name() == "o2o-local-WorkQueue"


def test_global_environment_is_raw(fixture_template):
    env = fixture_template.global_environment
    assert env["STATE_TABLE"] == {"Ref": "StateTable"}
    assert env["LOG_MODE"] == {"Fn::If": ["IsProd", "quiet", "verbose"]}


def test_function_lookup(fixture_template):
    assert fixture_template.function("EchoFunction").name == "echo"
    with pytest.raises(KeyError, match="known: boom, consumer, echo, tick"):
        fixture_template.function("nope")


def test_template_path_override_and_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("O2O_TEMPLATE", str(FIXTURE_TEMPLATE))
    assert default_template_path() == FIXTURE_TEMPLATE
    assert set(load_template().functions) == {"echo", "boom", "tick", "consumer"}
    monkeypatch.delenv("O2O_TEMPLATE")
    assert default_template_path() == REPO_TEMPLATE
    with pytest.raises(TemplateError, match="not found"):
        load_template(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("just: text\n")
    with pytest.raises(TemplateError, match="no Resources"):
        load_template(tmp_path / "bad.yaml")


# -- the repository's template.yaml (names from docs/stack-layout.md) ---------------------------------

STACK_LAYOUT = {
    "delivery_callback": ("DeliveryCallbackFunction", [("POST", "/jushuitan/delivery_callback")]),
    "cancel_callback": ("CancelCallbackFunction", [("POST", "/jushuitan/cancel_callback"),
                                                   ("POST", "/jushuitan/cancal_callback")]),
    "return_goods_callback": ("ReturnGoodsCallbackFunction", [("POST", "/jushuitan/return_goods_callback")]),
    "stock_callback": ("StockCallbackFunction", [("POST", "/jushuitan/stock_callback")]),
    "qimen_callback": ("QimenCallbackFunction", [("POST", "/qimen/callback")]),
    "pos_events": ("PosEventsFunction", [("POST", "/pos/events")]),
    "health": ("HealthFunction", [("GET", "/health")]),
    "poll_jst_outbound": ("PollJstOutboundFunction", "cron(0/2 * * * ? *)"),
    "poll_jst_documents": ("PollJstDocumentsFunction", "cron(0/15 * * * ? *)"),
    "pull_jst_stock": ("PullJstStockFunction", "cron(5 * * * ? *)"),
    "sync_products": ("SyncProductsFunction", "cron(20 * * * ? *)"),
    "nightly_stock_push": ("NightlyStockPushFunction", "cron(10 2 * * ? *)"),
    "push_wdt_sales": ("PushWdtSalesFunction", "cron(0/10 * * * ? *)"),
    "poll_wdt_documents": ("PollWdtDocumentsFunction", "cron(0/10 * * * ? *)"),
    "retry_worker": ("RetryWorkerFunction", "RetryQueue"),
    "ledger_writer": ("LedgerWriterFunction", "LedgerQueue"),
    "compact_ledger": ("CompactLedgerFunction", "cron(30 3 * * ? *)"),
}

needs_repo_template = pytest.mark.skipif(not REPO_TEMPLATE.is_file(), reason="template.yaml not written yet")


@pytest.fixture(scope="module")
def repo_template():
    return load_template(REPO_TEMPLATE)


@needs_repo_template
def test_repo_template_functions(repo_template):
    assert set(repo_template.functions) == set(STACK_LAYOUT)
    for name, (logical_id, trigger) in STACK_LAYOUT.items():
        spec = repo_template.functions[name]
        assert spec.logical_id == logical_id
        assert (spec.code_dir / "app.py").is_file()
        assert spec.handler == "app.lambda_handler"
        if isinstance(trigger, list):
            assert [(r.method, r.path) for r in spec.routes] == trigger
            assert not spec.schedules and not spec.sqs_sources
        elif trigger.startswith("cron"):
            (schedule,) = spec.schedules
            assert (schedule.expression, schedule.timezone) == (trigger, "Asia/Shanghai")
            # The Input names the job and the firing (the Scheduler fills in the time).
            from datetime import datetime, timezone

            at = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)
            assert schedule.enabled and schedule.event(at) == {"job": name, "scheduled_time": "2026-12-02T06:00:00Z"}
            parse_expression(schedule.expression)
            # Its tenant runs come back to it on its own FIFO queue, one tenant per invocation.
            (source,) = spec.sqs_sources
            assert (source.queue_logical_id, source.batch_size) == (f"{logical_id.removesuffix('Function')}Runs", 1)
            assert repo_template.queues[source.queue_logical_id].fifo
            parse_expression(schedule.expression)
        else:
            (source,) = spec.sqs_sources
            batch = 1000 if name == "ledger_writer" else 10  # the ledger writer's big batches: few PUTs
            assert (source.queue_logical_id, source.batch_size, source.report_batch_item_failures) == (trigger, batch, True)


@needs_repo_template
def test_repo_template_tables_and_queues(repo_template):
    state = repo_template.tables["StateTable"].create_table_kwargs()
    assert [k["AttributeName"] for k in state["KeySchema"]] == ["pk", "sk"]
    assert state["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    assert repo_template.tables["StateTable"].ttl_attribute == "expires_at"
    assert repo_template.tables["IdempotencyTable"].ttl_attribute == "expiration"
    retry, dlq = repo_template.queues["RetryQueue"], repo_template.queues["RetryDLQ"]
    assert retry.visibility_timeout >= 6 * repo_template.functions["retry_worker"].timeout
    assert (retry.redrive_target, retry.max_receive_count) == ("RetryDLQ", 5)
    assert int(dlq.attributes["MessageRetentionPeriod"]) == 14 * 24 * 3600
    facts = repo_template.queues["LedgerQueue"]
    assert facts.visibility_timeout >= 6 * repo_template.functions["ledger_writer"].timeout
    assert (facts.redrive_target, facts.max_receive_count) == ("LedgerDLQ", 5)


@needs_repo_template
def test_repo_template_local_environment(repo_template):
    env = local_environment(repo_template, "http://127.0.0.1:5000", environ={})
    assert env["STATE_TABLE"] == "o2o-local-StateTable"
    assert env["IDEMPOTENCY_TABLE"] == "o2o-local-IdempotencyTable"
    assert env["RETRY_QUEUE_URL"] == "http://127.0.0.1:5000/123456789012/o2o-local-RetryQueue"
    assert env["RETRY_DLQ_URL"] == "http://127.0.0.1:5000/123456789012/o2o-local-RetryDLQ"
    assert env["O2O_STAGE"] == "local"
    assert env["RETRY_MAX_ATTEMPTS"] == "8"
    assert env["RETRY_BASE_DELAY_SECONDS"] == "1"
    assert env["POWERTOOLS_SERVICE_NAME"] == "o2o-bridge"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "O2OBridge"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert (env["AWS_DEFAULT_REGION"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("us-east-1", "testing", "testing")


@needs_repo_template
def test_repo_template_schedules_fire(repo_template):
    from datetime import datetime, timezone

    after = datetime(2026, 1, 1, 18, 11, tzinfo=timezone.utc)  # 02:11 in Shanghai
    nightly = repo_template.functions["nightly_stock_push"].schedules[0]
    fire = next_fire(nightly.expression, nightly.timezone, after)
    assert fire.isoformat() == "2026-01-03T02:10:00+08:00"
