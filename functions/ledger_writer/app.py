"""LedgerQueue consumer: a batch of facts stored as one object per tenant and day
(flows/ledger_writer.py); partial batch responses: only the messages of an object that could not
be written are delivered again."""

from o2o_bridge import runtime, wiring  # first: in Lambda it turns the garbage collector off for the init phase

from o2o_bridge.errors import TransientError
from o2o_bridge.flows.ledger_writer import LedgerMessage, write_batch
from o2o_bridge.observability import logger, metrics, traced
from o2o_bridge.outermost import contain_failures


class NotStored(TransientError):
    """No object of the batch could be written: SQS delivers every message again."""


# Outermost but for the tracer, so X-Ray too sees only a failure without secrets (outermost.py).
@traced
@contain_failures()
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    with runtime.invocation(context):
        store, park = wiring.ledger_writer()
        messages = [LedgerMessage(record["messageId"], record["body"], _recorded_ms(record))
                    for record in event.get("Records", [])]
        outcome = write_batch(store, messages, park=park)
        for name, value in (("LedgerObjectsWritten", outcome.written), ("LedgerFactsStored", outcome.facts),
                            ("LedgerFactsParked", len(outcome.parked)), ("LedgerFactsNotStored", len(outcome.failed))):
            if value:
                metrics.add_metric(name=name, unit="Count", value=value)
        logger.info("ledger batch stored", extra=outcome.as_dict())

        # The SQS partial batch response (ReportBatchItemFailures) written out, as the retry worker
        # does, rather than Powertools' batch package, whose import costs this function's cold start
        # 55-90 ms of CPU (retry_worker.partial_batch_response says what it loads).
        failures = [{"itemIdentifier": message.message_id} for message in messages
                    if message.message_id in outcome.failed]
        if messages and len(failures) == len(messages):
            raise NotStored(f"none of the batch's {len(messages)} facts could be stored: "
                            f"{next(iter(outcome.failed.values()))}")
        return {"batchItemFailures": failures}


def _recorded_ms(record) -> int:
    """When the flow sent the fact: a fact `o2o dlq replay --queue ledger` moved back from LedgerDLQ
    carries its first SentTimestamp in the ``recorded_ms`` attribute; others their own."""
    moved = (record.get("messageAttributes") or {}).get("recorded_ms") or {}
    value = moved.get("stringValue")
    return int(value) if value and value.isdigit() else int(record["attributes"]["SentTimestamp"])


# The end of Lambda's init phase: a client for each AWS service this function's policies grant
# (tests/template checks the two agree), then the garbage collector back on (o2o_bridge/init_phase.py).
runtime.ready("s3", "sqs")
