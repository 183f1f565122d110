"""The ledger queue and its writer: a fact sent twice counted once, a batch delivered again
writing nothing twice, a poisoned message parked with its reason while the rest of its batch is
stored, two tenants of one batch kept apart, a failed object handing back only its own facts.

On fakes (flows/ledger_writer.write_batch over a store in memory) and on moto with the real
function (functions/ledger_writer, fed by the local stack's event source emulation)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from o2o_bridge.connectors.files.ledger import FileLedger
from o2o_bridge.flows.ledger_writer import LedgerMessage, write_batch
from o2o_bridge.ledger import (Fact, FactLine, PoisonedFact, batch_objects, fact_message, merge_rows,
                               read_fact_message)

SH = timezone(timedelta(hours=8))
SENT = 1764633600000  # a SentTimestamp (ms)


def sale(ent_id="10010", key="sale:S001:X1", amount="10.00", hour=10, lines=1):
    return Fact(ent_id, "sale.completed", key, datetime(2026, 12, 2, hour, tzinfo=SH), store_code="S001",
                doc_no=key.rsplit(":", 1)[-1], payment="cash", amount=Decimal(amount),
                lines=tuple(FactLine(f"SKU-{n}", 1, Decimal(amount)) for n in range(lines)))


def message(fact, number, sent=SENT):
    return LedgerMessage(f"m{number}", fact_message(fact), sent + number)


class MemoryStore:
    """A LedgerStore in memory: objects by name, written once; ``broken`` tenants' objects fail."""

    def __init__(self, broken=()):
        self.objects: dict[str, bytes] = {}
        self.puts = 0
        self.broken = set(broken)

    def put_batch(self, batch):
        self.puts += 1
        if batch.ent_id in self.broken:
            raise OSError("S3 said no")
        if batch.name in self.objects:
            return False
        self.objects[batch.name] = batch.body
        return True


def parking():
    parked = []
    return parked, lambda msg, reason: parked.append((msg.message_id, reason))


# --- on fakes ------------------------------------------------------------------------------------

def test_a_batch_is_one_object_per_tenant_and_day_and_a_redelivered_batch_writes_nothing_twice():
    store, (parked, park) = MemoryStore(), parking()
    batch = [message(sale(key=f"sale:S001:X{n}"), n) for n in range(50)]
    first = write_batch(store, batch, park=park)
    assert (first.written, first.facts, first.failed, parked) == (1, 50, {}, [])
    [(name, body)] = store.objects.items()
    assert name.startswith("tenant=10010/day=2026-12-02/batch-") and len(body.splitlines()) == 100
    again = write_batch(store, list(reversed(batch)), park=park)  # redelivered, in another order
    assert (again.written, again.already_there, again.failed) == (0, 1, {})
    assert list(store.objects) == [name] and store.objects[name] == body


def test_a_fact_sent_twice_in_one_batch_is_stored_once_the_first_recorded_version():
    store, (_, park) = MemoryStore(), parking()
    outcome = write_batch(store, [message(sale(amount="20.00"), 2), message(sale(amount="10.00"), 1)], park=park)
    assert outcome.facts == 1
    [body] = store.objects.values()
    rows = [json.loads(line) for line in body.splitlines()]
    assert {row["amount"] for row in rows} == {10.0}  # m1, sent first, wins
    assert {row["recorded_at"] for row in rows} == {"2025-12-02 00:00:00.001"}


def test_a_poisoned_message_is_parked_with_its_reason_and_the_rest_of_the_batch_is_stored():
    store, (parked, park) = MemoryStore(), parking()
    wrong_day = json.loads(fact_message(sale()))
    wrong_day["day"] = "2026-12-03"
    poisoned = [LedgerMessage("bad-json", "{not json", SENT), LedgerMessage("bad-day", json.dumps(wrong_day), SENT),
                LedgerMessage("bad-kind", fact_message(sale()).replace("sale.completed", "sale.invented"), SENT)]
    outcome = write_batch(store, [message(sale(key="sale:S001:A"), 1), *poisoned, message(sale(key="sale:S001:B"), 2)],
                          park=park)
    assert outcome.failed == {} and outcome.facts == 2 and outcome.written == 1
    reasons = dict(parked)
    assert set(reasons) == {"bad-json", "bad-day", "bad-kind"}
    assert "not a ledger message" in reasons["bad-json"]
    assert "not on day 2026-12-03" in reasons["bad-day"]
    assert "unknown kind 'sale.invented'" in reasons["bad-kind"]


def test_a_message_that_cannot_be_parked_is_handed_back_not_dropped():
    def park(msg, reason):
        raise ConnectionError("DLQ unreachable")

    outcome = write_batch(MemoryStore(), [LedgerMessage("bad", "[]", SENT), message(sale(), 1)], park=park)
    assert set(outcome.failed) == {"bad"} and outcome.facts == 1


def test_two_tenants_in_one_batch_are_kept_apart_and_a_failing_object_hands_back_only_its_own_facts():
    store, (_, park) = MemoryStore(broken={"10020"}), parking()
    batch = [message(sale("10010", "sale:S001:A"), 1), message(sale("10020", "sale:S001:A"), 2),
             message(sale("10010", "sale:S001:B"), 3), message(sale("10020", "sale:S001:C"), 4)]
    outcome = write_batch(store, batch, park=park)
    assert set(outcome.failed) == {"m2", "m4"}  # 10020's object failed: only its facts come again
    [(name, body)] = store.objects.items()
    assert name.startswith("tenant=10010/")
    assert {json.loads(line)["fact_key"] for line in body.splitlines()} == {"sale:S001:A", "sale:S001:B"}
    store.broken.clear()
    again = write_batch(store, [batch[1], batch[3]], park=park)
    assert again.failed == {} and again.written == 1
    [other] = [name for name in store.objects if name.startswith("tenant=10020/")]
    assert all(json.loads(line)["store_code"] == "S001" for line in store.objects[other].splitlines())


def test_a_fact_with_very_many_lines_still_fits_one_message():
    big = sale(lines=3000)
    body = fact_message(big)
    assert len(body) < 256 * 1024 and "gzip" in json.loads(body)
    fact = read_fact_message(body, message_id="m", sent_ms=SENT)
    assert len(fact.rows) == 3001


def test_a_message_naming_another_facts_rows_is_poisoned():
    forged = json.loads(fact_message(sale(key="sale:S001:A")))
    forged["fact_key"] = "sale:S001:B"
    with pytest.raises(PoisonedFact, match="a row of another fact"):
        read_fact_message(json.dumps(forged), message_id="m", sent_ms=SENT)
    forged = json.loads(fact_message(sale()))
    forged["tenant"] = "../10020"
    with pytest.raises(PoisonedFact, match="no valid tenant"):
        read_fact_message(json.dumps(forged), message_id="m", sent_ms=SENT)


def test_compaction_keeps_the_first_recorded_version_of_a_fact_in_several_objects():
    first = batch_objects([read_fact_message(fact_message(sale(amount="10.00")), message_id="a", sent_ms=SENT)])
    replay = batch_objects([read_fact_message(fact_message(sale(amount="99.00", lines=2)), message_id="b",
                                              sent_ms=SENT + 5000)])
    rows = merge_rows([replay[0].body, first[0].body])  # whatever order the objects are read in
    assert [(row["line_no"], row["amount"]) for row in rows] == [(0, 10.0), (1, 10.0)]


# --- the reports over what the writer stored --------------------------------------------------

def test_a_replayed_fact_is_counted_once_in_a_report_before_and_after_compaction(tmp_path):
    from o2o_bridge.cli.order_centre.engines import DuckDbEngine, run_report
    from o2o_bridge.cli.order_centre.reports import REPORTS

    store, (_, park) = FileLedger(tmp_path), parking()
    # The sale, then the same step replayed minutes later (its fact sent again, in another batch,
    # here with another amount: the first recorded counts), and an unrelated sale.
    write_batch(store, [message(sale(amount="10.00"), 1)], park=park)
    write_batch(store, [message(sale(amount="30.00"), 300_000), message(sale(key="sale:S001:X2"), 300_001)],
                park=park)
    assert len(list(tmp_path.rglob("batch-*.jsonl"))) == 2

    def daily():
        names, rows = run_report(DuckDbEngine(tmp_path), REPORTS["daily-retail"], "10010", "2026-12-02", "2026-12-02")
        return [dict(zip(names, row)) for row in rows]

    [before] = daily()
    assert (before["sales"], before["sales_amount"]) == (2, 20.0)
    store.compact_day("10010", "2026-12-02")
    assert [p.name for p in (tmp_path / "tenant=10010" / "day=2026-12-02").glob("*.jsonl")] == ["compacted.jsonl"]
    assert daily() == [before]
    write_batch(store, [message(sale(amount="50.00"), 900_000)], park=park)  # replayed after compaction
    assert daily() == [before]


# --- the real function on moto -----------------------------------------------------------------

def _writer():
    from o2o_local.template import load_template

    template = load_template()
    return template, template.functions["ledger_writer"]


def test_the_writer_function_stores_a_batch_parks_a_poisoned_message_and_reports_partial_failures(aws, monkeypatch):
    from o2o_bridge import runtime
    from o2o_bridge.connectors.aws.sqs_queue import DeadLetterBox
    from o2o_local.drain import deliver_own_queue

    sqs, s3 = runtime.aws_client("sqs"), runtime.aws_client("s3")
    ledger = runtime.ledger()
    for fact in (sale("10010", "sale:S001:A"), sale("10020", "sale:S001:A"), sale("10010", "sale:S001:A")):
        ledger.append(fact)  # 10010's sale twice: a replayed step
    sqs.send_message(QueueUrl=aws["LEDGER_QUEUE_URL"], MessageBody='{"ledger": 1, "tenant": "10010"}')
    template, writer = _writer()
    [answer] = deliver_own_queue(template, writer)
    assert answer == {"batchItemFailures": []}
    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=aws["LEDGER_BUCKET"], Prefix="ledger/")["Contents"])
    assert [key.split("/")[1] for key in keys] == ["tenant=10010", "tenant=10020"]
    body = s3.get_object(Bucket=aws["LEDGER_BUCKET"], Key=keys[0])["Body"].read()
    assert len(body.splitlines()) == 2  # the sale's two rows, once
    box = DeadLetterBox(sqs, aws["RETRY_DLQ_URL"], aws["RETRY_QUEUE_URL"])
    [letter] = box.list()
    assert "poisoned ledger message" in letter.reason and "no valid day" in letter.reason
    left = sqs.get_queue_attributes(QueueUrl=aws["LEDGER_QUEUE_URL"], AttributeNames=["ApproximateNumberOfMessages"])
    assert left["Attributes"]["ApproximateNumberOfMessages"] == "0"

    # S3 refuses one tenant's object: only that tenant's messages are reported failed.
    from o2o_bridge.connectors.aws import s3_ledger

    real = s3_ledger.S3Ledger.put_batch

    def refuse_10020(self, batch):
        if batch.ent_id == "10020":
            raise s3_ledger.TransientError("SlowDown")
        return real(self, batch)

    monkeypatch.setattr(s3_ledger.S3Ledger, "put_batch", refuse_10020)
    ledger.append(sale("10010", "sale:S001:B"))
    ledger.append(sale("10020", "sale:S001:B"))
    received = sqs.receive_message(QueueUrl=aws["LEDGER_QUEUE_URL"], MaxNumberOfMessages=10,
                                   AttributeNames=["All"], MessageSystemAttributeNames=["All"])["Messages"]
    from o2o_local.lambda_runtime import invoke
    from o2o_local.names import local_region
    from o2o_local.sqs_event import sqs_event

    answer = invoke(writer, sqs_event(received, "arn:aws:sqs:us-east-1:123456789012:o2o-local-LedgerQueue",
                                      local_region()))
    ids = {m["MessageId"]: json.loads(m["Body"])["tenant"] for m in received}
    assert [ids[f["itemIdentifier"]] for f in answer["batchItemFailures"]] == ["10020"]
