"""What `retry_worker` does with one SQS record, wired to this container's adapters."""

from __future__ import annotations

from typing import Any, Callable

from pydantic import ValidationError

from . import runtime
from .errors import TransientError
from .observability import logger, metrics
from .redaction import redact_text
from .retry import DeadLetter, RetryEnvelope, RetryRunner

# A record is started only with this much of the invocation left. A record is one flow step: a
# few JST / 店+ calls (their clients give up after 15 s / 10 s) and a few DynamoDB writes. A
# record cut off by the function's timeout would make SQS deliver the whole batch again, and the
# records already handled (some of which queued their next retry) would run a second time and
# fork their retry chains; a record not started is handed back (partial batch response) instead.
RECORD_TIME_RESERVE_SECONDS = 45.0


class HandedBack(TransientError):
    """Not started: too little time left in this invocation; SQS delivers it again."""


class WholeBatchFailed(Exception):
    """No record of the batch was handled: the invocation fails, so SQS delivers them all again
    and the function's Errors metric shows it (a partial response would hide it)."""


def partial_batch_response(event: dict[str, Any], handle: Callable[[str], Any]) -> dict[str, Any]:
    """``handle`` each SQS record's body in turn; the records that raised are named in the
    answer (``batchItemFailures``, ReportBatchItemFailures) so SQS delivers only those again.

    What Powertools' BatchProcessor(EventType.SQS) with process_partial_response does for us,
    written here because of what its import costs: the batch package loads the event
    data classes of every event source, asyncio, and (pydantic being loaded) its parser's
    pydantic models of SQS, Kinesis, DynamoDB streams and Kafka records: 100 modules, 55-90 ms CPU of
    the init phase (with the collector on, as outside it, ~0.3 s)."""
    records = event.get("Records")
    if not isinstance(records, list):
        raise ValueError("not an SQS event: no Records list")
    failures: list[dict[str, str]] = []
    for record in records:
        try:
            handle(record["body"])
        except Exception as exc:  # noqa: BLE001 - one record's failure must not lose the others'
            # The logger's formatter redacts the message and the traceback.
            logger.warning("record not handled; SQS delivers it again", exc_info=True,
                           extra={"message_id": record.get("messageId"), "error_type": type(exc).__name__})
            failures.append({"itemIdentifier": record["messageId"]})
    if records and len(failures) == len(records):
        raise WholeBatchFailed(f"all {len(records)} records failed (each is logged as \"record not handled\")")
    return {"batchItemFailures": failures}


def seconds_left() -> float:
    return runtime.seconds_left()


def run_record(runner: RetryRunner, body: str) -> str:
    left = seconds_left()
    if left < RECORD_TIME_RESERVE_SECONDS:
        metrics.add_metric(name="Retry_handed_back", unit="Count", value=1)
        raise HandedBack(f"not started with {left:.0f} s left (a record may need {RECORD_TIME_RESERVE_SECONDS:.0f} s); "
                         "handed back to the queue")
    try:
        envelope = RetryEnvelope.model_validate_json(body)
    except ValidationError as exc:
        reason = f"malformed retry message: {exc.error_count()} problem(s), first: {exc.errors(include_url=False)[0]['msg']}"
        runner.queue.dead_letter(DeadLetter(envelope=None, reason=reason, error_type="MalformedMessage",
                                            raw_body=redact_text(body[:10_000])))
        outcome = "dead-lettered"
    else:
        logger.append_keys(retry_id=envelope.id, command=envelope.command, ent_id=envelope.ent_id)
        outcome = runner.run(envelope)
    metrics.add_metric(name=f"Retry_{outcome.replace('-', '_')}", unit="Count", value=1)
    logger.info("retry message handled", extra={"outcome": outcome})
    return outcome
