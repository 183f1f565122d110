"""Deliver the messages waiting in the template's queues to their consumer functions, as
Lambda's SQS event source mappings would, until the queues are empty or time is up.

Differences from Lambda, on purpose: a failed message is made visible again at once
(instead of after the visibility timeout) so its retries and its move to the dead-letter
queue (moto applies the RedrivePolicy on receive, like SQS) happen within one drain.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from . import lambda_runtime
from .aws_clients import local_client
from .bridge_runtime import reset_bridge_runtime
from .errors import LocalStackError
from .names import local_region
from .sqs_event import failed_message_ids, sqs_event
from .template import FunctionSpec, SqsSource, Template

__all__ = ["DrainReport", "FunctionTally", "QueueCounts", "deliver_own_queue", "drain", "run_queued_tenant_runs",
           "NO_DELAY_ENV"]

NO_DELAY_ENV = "O2O_RETRY_NO_DELAY"
POLL_INTERVAL = 0.1
Invoke = Callable[[FunctionSpec, Any], Any]
Log = Callable[[str], None]


@dataclass
class FunctionTally:
    delivered: int = 0  # message deliveries (a message retried three times counts three)
    succeeded: int = 0  # handled and done: not failed, and not parked in a dead-letter queue
    failed: int = 0
    dead_lettered: int = 0  # acknowledged by the consumer but parked by it in a dead-letter queue
    batches: int = 0
    errors: list[str] = field(default_factory=list)  # one line per failed batch


@dataclass(frozen=True)
class QueueCounts:
    visible: int
    delayed: int
    in_flight: int

    @property
    def total(self) -> int:
        return self.visible + self.delayed + self.in_flight


@dataclass
class DrainReport:
    functions: dict[str, FunctionTally]  # by function short name
    left: dict[str, QueueCounts]  # consumed queues, by logical id: what the drain did not deliver
    other_queues: dict[str, QueueCounts]  # queues nobody consumes (dead-letter queues)
    dead_lettered: dict[str, int]  # queues without consumer: messages that arrived during the drain
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return all(counts.total == 0 for counts in self.left.values())

    def lines(self) -> list[str]:
        lines = []
        for name, tally in self.functions.items():
            batches = f"{tally.batches} batch" + ("" if tally.batches == 1 else "es")
            parked = f"{tally.dead_lettered} dead-lettered, " if tally.dead_lettered else ""
            lines.append(f"{name}: {tally.delivered} delivered, {tally.succeeded} succeeded, {parked}"
                         f"{tally.failed} failed ({batches})")
        for queue, counts in self.left.items():
            state = "empty" if counts.total == 0 else (
                f"{counts.visible} visible, {counts.delayed} delayed, {counts.in_flight} in flight left")
            lines.append(f"{queue}: {state}")
        for queue, counts in self.other_queues.items():
            arrived = self.dead_lettered.get(queue, 0)
            lines.append(f"{queue}: {counts.total} waiting, no consumer"
                         + (f" ({arrived} arrived during the drain)" if arrived else ""))
        lines.append(("drained" if self.complete else "NOT drained: time bound reached") + f" in {self.seconds:.1f}s")
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass
class _Queue:
    logical_id: str
    url: str
    arn: str
    visibility_timeout: int


def drain(template: Template, *, now: bool = False, max_seconds: float = 60.0, invoke: Invoke | None = None,
          endpoint_url: str | None = None, log: Log | None = None) -> DrainReport:
    """Deliver every waiting message to its consumer until every consumed queue shows 0
    visible, 0 delayed and 0 in-flight messages, or ``max_seconds`` pass.

    ``now=True`` runs the handlers with ``O2O_RETRY_NO_DELAY=1`` (retries re-enqueued without
    delay); messages already delayed are still waited for, within the bound.
    """
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint_url:
        raise LocalStackError("drain needs the local endpoint: set AWS_ENDPOINT_URL (o2o local up prints it)")
    invoke = invoke or lambda_runtime.invoke
    say = log or (lambda line: None)
    sqs = local_client("sqs", endpoint_url)
    queues = {lid: _describe(sqs, template, lid) for lid in template.queues}
    consumers = [(spec, source) for spec, source in template.consumers() if source.enabled]
    consumed = {source.queue_logical_id for _, source in consumers}
    others = [lid for lid in queues if lid not in consumed]
    before = {lid: _counts(sqs, queues[lid]).total for lid in others}
    tallies = {spec.name: FunctionTally() for spec, _ in consumers}
    started = time.monotonic()
    deadline = started + max_seconds
    with _no_delay(now):
        while True:
            delivered = False
            for spec, source in consumers:
                if time.monotonic() >= deadline:
                    break
                queue = queues[source.queue_logical_id]
                messages = _receive_batch(sqs, queue, source.batch_size)
                if messages:
                    delivered = True
                    parked_before = sum(_counts(sqs, queues[lid]).total for lid in others)
                    succeeded_before = tallies[spec.name].succeeded
                    _deliver(sqs, queue, spec, source, messages, invoke, tallies[spec.name], say)
                    # A consumer that parks a message for good (the retry worker's dead letter)
                    # acknowledges it: count it as dead-lettered, not as succeeded.
                    parked = sum(_counts(sqs, queues[lid]).total for lid in others) - parked_before
                    _count_parked(tallies[spec.name], min(parked, tallies[spec.name].succeeded - succeeded_before),
                                  say, spec.name)
            if time.monotonic() >= deadline:
                break
            if not delivered:
                if all(_counts(sqs, queues[lid]).total == 0 for lid in consumed):
                    break
                time.sleep(POLL_INTERVAL)  # delayed or in-flight messages: wait for them
    other_counts = {lid: _counts(sqs, queues[lid]) for lid in others}
    return DrainReport(
        functions=tallies,
        left={lid: _counts(sqs, queues[lid]) for lid in sorted(consumed)},
        other_queues=other_counts,
        dead_lettered={lid: max(0, other_counts[lid].total - before[lid]) for lid in others},
        seconds=time.monotonic() - started,
    )


def _count_parked(tally: FunctionTally, parked: int, say: Log, name: str) -> None:
    moved = max(0, parked)
    if moved:
        tally.succeeded -= moved
        tally.dead_lettered += moved
        say(f"[drain] {name}: {moved} of that batch dead-lettered")


@contextmanager
def _no_delay(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    previous = os.environ.get(NO_DELAY_ENV)
    os.environ[NO_DELAY_ENV] = "1"
    reset_bridge_runtime()  # its settings are read once per container
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(NO_DELAY_ENV, None)
        else:
            os.environ[NO_DELAY_ENV] = previous
        reset_bridge_runtime()


def _describe(sqs: Any, template: Template, logical_id: str) -> _Queue:
    spec = template.queues[logical_id]
    try:
        url = sqs.get_queue_url(QueueName=spec.local_queue_name())["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        raise LocalStackError(f"queue {spec.local_queue_name()} does not exist at the endpoint: "
                           f"run `o2o local bootstrap` (or `o2o local up`) first") from None
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "VisibilityTimeout"])["Attributes"]
    return _Queue(logical_id, url, attributes["QueueArn"], int(attributes.get("VisibilityTimeout", 30)))


def _counts(sqs: Any, queue: _Queue) -> QueueCounts:
    attributes = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible",
    ])["Attributes"]
    return QueueCounts(int(attributes["ApproximateNumberOfMessages"]),
                       int(attributes["ApproximateNumberOfMessagesDelayed"]),
                       int(attributes["ApproximateNumberOfMessagesNotVisible"]))


def _receive_batch(sqs: Any, queue: _Queue, batch_size: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while len(messages) < batch_size:
        received = sqs.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=min(10, batch_size - len(messages)),
            VisibilityTimeout=queue.visibility_timeout, WaitTimeSeconds=0,
            AttributeNames=["All"], MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            break
        messages.extend(received)
    return messages


def run_queued_tenant_runs(template: Template, spec: FunctionSpec, result: Any, *,
                           invoke: Invoke | None = None) -> Any:
    """When ``result`` is a scheduled function's fan-out (one run per tenant queued on its own
    queue), run those tenant runs now, as Lambda's event source would, and report every
    tenant's summary; raises TenantFailures (naming them) when a tenant failed, after all ran.
    Any other result is returned as it is."""
    if not (spec.schedules and spec.sqs_sources and isinstance(result, dict) and "queued" in result):
        return result
    from o2o_bridge.flows.kit import TenantFailures

    tenants: dict[str, Any] = {}
    for answer in deliver_own_queue(template, spec, invoke=invoke):
        if isinstance(answer, dict):
            tenants.update(answer.get("tenants") or {})
    failed = [ent_id for ent_id, run in tenants.items() if not run.get("ok")]
    if failed:
        raise TenantFailures(f"{result.get('job')} failed for tenant(s) {', '.join(failed)}: "
                             + "; ".join(str(tenants[e].get("error")) for e in failed))
    return {**result, "tenants": tenants}


def deliver_own_queue(template: Template, spec: FunctionSpec, *, invoke: Invoke | None = None,
                      endpoint_url: str | None = None, log: Log | None = None, max_seconds: float = 600.0) -> list[Any]:
    """Deliver what waits on the queues ``spec`` itself consumes (a scheduled function's tenant
    runs, queued by its own fan-out) until they are empty; returns each invocation's result.
    Works on moto's in-process mock too (no endpoint)."""
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    sqs = local_client("sqs", endpoint_url)
    invoke = invoke or lambda_runtime.invoke
    say = log or (lambda line: None)
    results: list[Any] = []
    deadline = time.monotonic() + max_seconds
    for source in (s for s in spec.sqs_sources if s.enabled):
        queue = _describe(sqs, template, source.queue_logical_id)
        tally = FunctionTally()
        while time.monotonic() < deadline:
            messages = _receive_batch(sqs, queue, source.batch_size)
            if not messages:
                break
            results.append(_deliver(sqs, queue, spec, source, messages, invoke, tally, say))
    return results


def _deliver(sqs: Any, queue: _Queue, spec: FunctionSpec, source: SqsSource, messages: list[dict[str, Any]],
             invoke: Invoke, tally: FunctionTally, say: Log) -> Any:
    ids = [message["MessageId"] for message in messages]
    result: Any = None
    handles = {message["MessageId"]: message["ReceiptHandle"] for message in messages}
    tally.batches += 1
    tally.delivered += len(messages)
    try:
        result = invoke(spec, sqs_event(messages, queue.arn, local_region()))
        failed, problem = failed_message_ids(result, ids, source.report_batch_item_failures)
        if problem:
            tally.errors.append(f"{spec.name}: {problem}")
            say(f"[drain] {spec.name}: {problem}")
    except Exception as error:  # noqa: BLE001 - a failed invocation fails the whole batch
        failed = set(ids)
        tally.errors.append(f"{spec.name}: {type(error).__name__}: {error}")
        say(f"[drain] {spec.name} raised on a batch of {len(ids)}:\n{traceback.format_exc().rstrip()}")
    succeeded = [message_id for message_id in ids if message_id not in failed]
    for start in range(0, len(succeeded), 10):
        chunk = succeeded[start:start + 10]
        sqs.delete_message_batch(QueueUrl=queue.url, Entries=[
            {"Id": str(index), "ReceiptHandle": handles[message_id]} for index, message_id in enumerate(chunk)])
    retry = [message_id for message_id in ids if message_id in failed]
    for start in range(0, len(retry), 10):
        chunk = retry[start:start + 10]
        sqs.change_message_visibility_batch(QueueUrl=queue.url, Entries=[
            {"Id": str(index), "ReceiptHandle": handles[message_id], "VisibilityTimeout": 0}
            for index, message_id in enumerate(chunk)])
    tally.succeeded += len(succeeded)
    tally.failed += len(retry)
    say(f"[drain] {spec.name}: {len(ids)} from {queue.logical_id} -> {len(succeeded)} ok, {len(retry)} failed")
    return result
