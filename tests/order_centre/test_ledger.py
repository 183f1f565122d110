"""The document ledger: each business fact once, flat rows, hashed identities, S3 and local files."""

from datetime import datetime, timezone
from decimal import Decimal

import boto3
import pytest

from o2o_bridge.connectors.files.ledger import FileLedger
from o2o_bridge.connectors.aws.s3_ledger import S3Ledger
from o2o_bridge.flows import store_fulfilment as s1
from o2o_bridge.ledger import (Fact, FactLine, LedgerError, fact_body, fact_object_name, fact_rows, hash_identity,
                               mobile_hash, normalise_mobile)

AT = datetime(2026, 11, 30, 23, 30, tzinfo=timezone.utc)  # already 1 December in Shanghai


def a_sale(key="sale:S1", **changes):
    fields = dict(ent_id="10010", kind="sale.completed", key=key, at=AT, store_code="S001", doc_no="S1",
                  payment="wechat", amount=Decimal("259.00"),
                  lines=(FactLine("SKU-A", 2, Decimal("200.00")), FactLine("SKU-B", 1, Decimal("59.00"))))
    fields.update(changes)
    return Fact(**fields)


def test_a_fact_lands_on_its_shanghai_day_as_a_head_row_and_a_row_per_line():
    fact = a_sale()
    assert fact.day == "2026-12-01"
    assert fact_object_name(fact).startswith("tenant=10010/day=2026-12-01/sale_completed-")
    head, first, second = fact_rows(fact)
    assert (head["line_no"], head["sku_id"], head["qty"], head["amount"], head["occurred_at"]) == \
        (0, None, 3, 259.0, "2026-12-01 07:30:00")
    # A sale takes the goods out of the store: the lines carry the signed stock movement.
    assert (first["sku_id"], first["qty"], first["stock_delta"], first["amount"]) == ("SKU-A", 2, -2, 200.0)
    assert second["stock_delta"] == -1 and head["stock_delta"] is None


def test_a_fact_must_be_a_known_kind_with_an_aware_time():
    with pytest.raises(LedgerError):
        a_sale(kind="sale.invented")
    with pytest.raises(LedgerError):
        a_sale(at=datetime(2026, 12, 1, 8, 0))


def test_identities_are_normalised_and_hashed_never_kept():
    assert normalise_mobile("+86 138-0013-8000") == normalise_mobile("13800138000") == "13800138000"
    assert normalise_mobile("138****8000") is None and normalise_mobile("021-12345678") is None
    assert mobile_hash("10010", "+86 13800138000") == mobile_hash("10010", "13800138000")
    assert mobile_hash("10010", "13800138000") != mobile_hash("10020", "13800138000")  # per tenant
    assert hash_identity("10010", "mobile", "13800138000", pepper="a") != \
        hash_identity("10010", "mobile", "13800138000", pepper="b")
    fact = a_sale(member_hash=mobile_hash("10010", "13800138000"))
    assert b"13800138000" not in fact_body(fact)


def test_the_file_ledger_writes_a_fact_once(tmp_path):
    ledger = FileLedger(tmp_path)
    assert ledger.append(a_sale()) is True
    assert ledger.append(a_sale()) is False  # a replay
    files = list(tmp_path.rglob("*.jsonl"))
    assert len(files) == 1 and files[0].parent.name == "day=2026-12-01"
    assert len(files[0].read_text().splitlines()) == 3
    assert not list(tmp_path.rglob("*.tmp"))


def test_the_s3_ledger_writes_a_fact_once_with_a_conditional_put():
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="o2o-ledger-test")
        ledger = S3Ledger(s3, "o2o-ledger-test")
        assert ledger.append(a_sale()) is True
        assert ledger.append(a_sale(amount=Decimal("1.00"))) is False  # the first write wins
        [item] = s3.list_objects_v2(Bucket="o2o-ledger-test")["Contents"]
        assert item["Key"].startswith("ledger/tenant=10010/day=2026-12-01/")
        body = s3.get_object(Bucket="o2o-ledger-test", Key=item["Key"])["Body"].read()
        assert b'"amount":259.0' in body


def test_an_s1_order_leaves_one_fact_per_step_however_often_it_is_replayed(world):
    world.jst.add(700001)
    s1.poll_jst_outbound(world.ctx)
    shipped = world.shipped(700001)
    world.mark(shipped)
    for _ in range(3):
        s1.poll_jst_outbound(world.ctx)
        world.ctx.cursors.cursors.clear()
        s1.on_fulfilment_shipped(shipped, world.ctx)
        world.confirm()  # the next poll confirms it in JST
    facts = world.ctx.ledger.facts
    assert [f.kind for f in facts] == ["fulfilment.dispatched", "fulfilment.shipped"]
    dispatched, done = facts
    assert (dispatched.store_code, dispatched.io_id, dispatched.delivery) == ("S001", "700001", "express")
    assert done.at.isoformat() == "2026-11-30T11:00:00+08:00"  # the store's time, not the bridge's
    buyer = world.order(700001)["receiver"]["mobile"]
    assert done.member_hash == mobile_hash(world.ctx.ent_id, buyer) and buyer not in str(done)
    assert sum(line.qty for line in done.lines) == sum(i["qty"] for i in world.order(700001)["items"])


def test_a_rejection_and_a_cancellation_are_facts_of_the_store_that_had_the_order(world):
    world.jst.add(700001)
    s1.poll_jst_outbound(world.ctx)
    rejected = world.rejected(700001)
    world.mark(rejected)
    s1.on_fulfilment_rejected(rejected, world.ctx)
    s1.on_fulfilment_rejected(rejected, world.ctx)
    second_store = world.order(700001)["store_code"]
    s1.cancel_outbound(world.ctx, "700001", jst_status="Cancelled")
    kinds = [(f.kind, f.store_code) for f in world.ctx.ledger.facts]
    assert kinds == [("fulfilment.dispatched", "S001"), ("fulfilment.rejected", "S001"),
                     ("fulfilment.dispatched", second_store), ("fulfilment.cancelled", second_store)]
    assert world.ctx.ledger.of_kind("fulfilment.rejected")[0].reason == "out_of_stock"


def test_a_function_sends_its_facts_to_the_templates_queue_and_the_writer_stores_them_in_the_bucket(aws):
    """The functions' environment (LEDGER_QUEUE_URL from template.yaml) gives them the ledger queue;
    the ledger writer's (LEDGER_BUCKET) the S3 ledger, where the queued facts land as one object."""
    from o2o_bridge import runtime
    from o2o_bridge.connectors.aws.sqs_ledger import SqsLedger
    from o2o_local.drain import deliver_own_queue
    from o2o_local.template import load_template

    ledger = runtime.ledger()
    assert isinstance(ledger, SqsLedger) and ledger.queue_url == aws["LEDGER_QUEUE_URL"]
    assert isinstance(runtime.ledger_store(), S3Ledger) and runtime.ledger_store().bucket == aws["LEDGER_BUCKET"]
    assert ledger.append(a_sale()) is True and ledger.append(a_sale(key="sale:S2")) is True
    template = load_template()
    deliver_own_queue(template, template.functions["ledger_writer"])
    listed = runtime.aws_client("s3").list_objects_v2(Bucket=aws["LEDGER_BUCKET"], Prefix="ledger/tenant=10010/")
    [item] = listed["Contents"]  # one object for the batch's two facts
    assert item["Key"].startswith("ledger/tenant=10010/day=2026-12-01/batch-")
