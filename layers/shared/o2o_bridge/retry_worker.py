"""What `retry_worker` does with one SQS record, wired to this container's adapters."""

from __future__ import annotations

from pydantic import ValidationError

from .observability import logger, metrics
from .redaction import redact_text
from .retry import DeadLetter, RetryEnvelope, RetryRunner


def run_record(runner: RetryRunner, body: str) -> str:
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
