"""Create the template's tables and queues at a (local) endpoint. Idempotent."""

from __future__ import annotations

import json
from collections.abc import Callable

from botocore.exceptions import ClientError

from .aws_clients import local_client
from .environment import local_environment
from .names import local_bucket_name, local_name
from .template import QueueSpec, TableSpec, Template

__all__ = ["bootstrap", "local_environment", "ordered_queues"]

Log = Callable[[str], None]


def bootstrap(template: Template, endpoint_url: str | None, *, log: Log | None = None) -> dict[str, str]:
    """Create every table (with TTL and GSIs) and queue (dead-letter queues first) of the
    template; return logical id -> table name or queue URL. Existing ones are kept.

    ``endpoint_url=None`` uses whatever boto3 points at (moto's in-process mock in tests)."""
    say = log or (lambda line: None)
    created: dict[str, str] = {}
    dynamodb = local_client("dynamodb", endpoint_url)
    for logical_id, table in template.tables.items():
        created[logical_id] = _ensure_table(dynamodb, table, say)
    sqs = local_client("sqs", endpoint_url)
    for queue in ordered_queues(template):
        created[queue.logical_id] = _ensure_queue(sqs, queue, created, say)
    if template.buckets:
        s3 = local_client("s3", endpoint_url)
        for logical_id in template.buckets:
            created[logical_id] = _ensure_bucket(s3, logical_id, say)
    aliases = [lid for lid, res in template.document["Resources"].items()
               if isinstance(res, dict) and res.get("Type") == "AWS::KMS::Alias"]
    if aliases:
        kms = local_client("kms", endpoint_url)
        for logical_id in aliases:
            created[logical_id] = _ensure_kms_alias(kms, logical_id, say)
    return created


def _ensure_bucket(s3, logical_id: str, say: Log) -> str:
    name = local_bucket_name(logical_id)
    try:
        s3.create_bucket(Bucket=name)
        state = "created"
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
        state = "exists"
    say(f"bucket {logical_id}: {name} ({state})")
    return name


def _ensure_kms_alias(kms, logical_id: str, say: Log) -> str:
    """A symmetric key behind the alias the functions encrypt with (TOKEN_KEY_ID)."""
    from .template import kms_alias_name

    alias = kms_alias_name(logical_id)
    existing = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    if alias not in existing:
        key_id = kms.create_key(Description=f"o2o local {logical_id}")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    say(f"kms key {logical_id}: {alias} ({'exists' if alias in existing else 'created'})")
    return alias


def _ensure_table(dynamodb, table: TableSpec, say: Log) -> str:
    name = local_name(table.logical_id)
    try:
        dynamodb.create_table(**table.create_table_kwargs(name))
        state = "created"
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUseException":
            raise
        state = "exists"
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50})
    ttl = table.ttl_attribute
    if ttl:
        current = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            dynamodb.update_time_to_live(TableName=name,
                                         TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl})
    extras = [f"GSI {gsi['IndexName']}" for gsi in table.properties.get("GlobalSecondaryIndexes") or []]
    extras += [f"TTL {ttl}"] if ttl else []
    say(f"table {table.logical_id}: {name} ({state}{', ' + ', '.join(extras) if extras else ''})")
    return name


def ordered_queues(template: Template) -> list[QueueSpec]:
    """Queues with every dead-letter queue before the queues that redrive to it."""
    ordered: list[QueueSpec] = []

    def visit(queue: QueueSpec, path: tuple[str, ...]) -> None:
        if queue in ordered:
            return
        if queue.logical_id in path:
            raise ValueError(f"redrive cycle: {' -> '.join(path + (queue.logical_id,))}")
        if queue.redrive_target:
            visit(template.queues[queue.redrive_target], path + (queue.logical_id,))
        ordered.append(queue)

    for queue in template.queues.values():
        visit(queue, ())
    return ordered


def _ensure_queue(sqs, queue: QueueSpec, created: dict[str, str], say: Log) -> str:
    name = queue.local_queue_name()
    attributes = dict(queue.attributes)
    if queue.redrive_target:
        dlq_url = created[queue.redrive_target]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count})
    try:
        existing = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as error:
        if "NonExistentQueue" not in error.response["Error"]["Code"]:
            raise
        existing = None
    if existing:
        attributes.pop("FifoQueue", None)  # cannot be changed after creation
        if attributes:
            sqs.set_queue_attributes(QueueUrl=existing, Attributes=attributes)
        url, state = existing, "exists"
    else:
        url, state = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"], "created"
    redrive = f", redrive to {queue.redrive_target} after {queue.max_receive_count} receives" if queue.redrive_target else ""
    say(f"queue {queue.logical_id}: {url} ({state}{redrive})")
    return url
