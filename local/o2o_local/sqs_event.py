"""The SQS event Lambda's event source mapping hands a function."""

from __future__ import annotations

import base64
from typing import Any

SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
    "SequenceNumber", "MessageGroupId", "MessageDeduplicationId", "AWSTraceHeader",
)


def message_attributes(attributes: dict[str, Any] | None) -> dict[str, Any]:
    """boto3's MessageAttributes in Lambda's shape (camelCase, binary as base64 text)."""
    shaped: dict[str, Any] = {}
    for name, attribute in (attributes or {}).items():
        value: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": attribute["DataType"]}
        if "StringValue" in attribute:
            value["stringValue"] = attribute["StringValue"]
        if "BinaryValue" in attribute:
            raw = attribute["BinaryValue"]
            value["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
        shaped[name] = value
    return shaped


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of ``event["Records"]`` for a message from boto3 ``receive_message``."""
    system = message.get("Attributes") or {}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {name: str(system[name]) for name in SYSTEM_ATTRIBUTES if name in system},
        "messageAttributes": message_attributes(message.get("MessageAttributes")),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {"Records": [sqs_record(message, queue_arn, region) for message in messages]}


def failed_message_ids(result: Any, message_ids: list[str], reports_failures: bool) -> tuple[set[str], str | None]:
    """Which messages of a batch failed, from the handler's result, as Lambda decides.

    Without ReportBatchItemFailures a returned result means the whole batch succeeded. With
    it, ``{"batchItemFailures": [{"itemIdentifier": id}]}`` names the failures; an empty or
    missing list means none, and a malformed answer fails the whole batch. Returns the ids
    and, for a malformed answer, the reason.
    """
    if not reports_failures or result is None:
        return set(), None
    if not isinstance(result, dict):
        return set(), None  # Lambda only looks for batchItemFailures in a JSON object
    items = result.get("batchItemFailures")
    if not items:
        return set(), None
    failed: set[str] = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in message_ids:
            return set(message_ids), f"invalid batchItemFailures entry {item!r}: the whole batch counts as failed"
        failed.add(identifier)
    return failed, None
