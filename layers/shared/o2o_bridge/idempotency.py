"""Exactly-once effects over Powertools idempotency.

``@once("pos_events.event", key="event_id")`` makes a function run once per key: a
repeat returns the first result and changes nothing. The key prefix is stable (it does
not depend on the Lambda's name or module path, which change between stacks), and a
record without its key is an error, never silently processed twice.

``done_once`` stores a key as done with its answer in one conditional write, in the very
record ``@once`` keeps (so each finds the other's): for work that needs no "in progress"
claim, because all it did before is idempotent on its own keys.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, TypeVar

from .errors import BadRequest

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_TTL_SECONDS = 14 * 24 * 3600  # longer than any JST push retry or SQS retention


class MissingIdempotencyKey(BadRequest):
    """The record has no value at the idempotency key path."""


_config_registry: list[Any] = []


def once(key_prefix: str, *, key: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> Callable[[F], F]:
    """Decorate ``fn(record: dict, ...)``: the effect of one ``record[key]`` happens once.

    ``key`` is a JMESPath into the record (e.g. ``"event_id"`` or ``"[so_id, l_id]"``).
    The persistence layer is built at the first call, so importing a handler stays cheap.
    """

    def decorator(fn: F) -> F:
        wrapped: list[Callable[..., Any]] = []

        @functools.wraps(fn)
        def run(record: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            if not wrapped:
                wrapped.append(_build(fn, key_prefix, key, ttl_seconds))
            from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyKeyError

            try:
                return wrapped[0](*args, record=record, **kwargs)
            except IdempotencyKeyError:
                raise MissingIdempotencyKey(f"{key_prefix}: the record has no idempotency key at {key!r}") from None

        return run  # type: ignore[return-value]

    return decorator


def _build(fn: Callable[..., Any], key_prefix: str, key: str, ttl_seconds: int) -> Callable[..., Any]:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    from . import runtime

    config = IdempotencyConfig(
        event_key_jmespath=key,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=ttl_seconds,
    )
    _config_registry.append(config)
    if runtime.lambda_context() is not None:
        config.register_lambda_context(runtime.lambda_context())
    store = DynamoDBPersistenceLayer(
        table_name=runtime.settings().idempotency_table, boto3_client=runtime.aws_client("dynamodb")
    )

    def call(*args: Any, record: dict[str, Any], **kwargs: Any) -> Any:
        return fn(record, *args, **kwargs)

    call.__name__ = fn.__name__
    return idempotent_function(
        data_keyword_argument="record", persistence_store=store, config=config, key_prefix=key_prefix
    )(call)


def register_lambda_context(context: Any) -> None:
    """Let in-progress records expire with the invocation (Powertools uses the remaining time)."""
    for config in _config_registry:
        config.register_lambda_context(context)


def done_once(key_prefix: str, record: dict[str, Any], answer: dict[str, Any], *, key: str,
              ttl_seconds: int = DEFAULT_TTL_SECONDS) -> dict[str, Any] | None:
    """Store ``record`` as done with ``answer`` in one conditional write: None when written, the
    answer stored before when this key was done already (by ``done_once`` or by ``@once`` with the
    same prefix and key). A key another call holds in progress raises Powertools'
    ``IdempotencyAlreadyInProgressError``, as ``@once`` does.

    ``@once`` costs two writes (the claim, then its completion with the answer), because a crash
    in between must leave the key to be taken over. Work that writes nothing before this record
    but what is idempotent on its own keys needs no claim: a crash before the write leaves the key
    free and the redelivery does the same work again, a crash after it leaves it done. A repeat is
    the one refused write, which brings the stored record back with the refusal
    (ReturnValuesOnConditionCheckFailure): no read before it.

    The record is Powertools' own (key ``<prefix>#<hash of record[key]>``, status, expiry, data),
    written under Powertools' own condition: absent, expired, or in progress past its expiry."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import (IdempotencyAlreadyInProgressError,
                                                                        IdempotencyKeyError)
    from botocore.exceptions import ClientError

    from . import runtime

    store = _persistence(runtime.aws_client("dynamodb"), runtime.settings().idempotency_table, key_prefix, key,
                         ttl_seconds)
    try:
        idempotency_key = store._get_hashed_idempotency_key(data=record)
    except IdempotencyKeyError:
        raise MissingIdempotencyKey(f"{key_prefix}: the record has no idempotency key at {key!r}") from None
    import time

    now = time.time()
    try:
        store.client.put_item(
            TableName=store.table_name,
            Item={store.key_attr: {"S": idempotency_key},
                  store.expiry_attr: {"N": str(store._get_expiry_timestamp())},
                  store.status_attr: {"S": "COMPLETED"},
                  store.data_attr: {"S": json.dumps(answer, sort_keys=True)}},
            ConditionExpression=("attribute_not_exists(#id) OR #expiry < :now OR (#status = :inprogress AND "
                                 "attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis)"),
            ExpressionAttributeNames={"#id": store.key_attr, "#expiry": store.expiry_attr,
                                      "#in_progress_expiry": store.in_progress_expiry_attr,
                                      "#status": store.status_attr},
            ExpressionAttributeValues={":now": {"N": str(int(now))}, ":now_in_millis": {"N": str(int(now * 1000))},
                                       ":inprogress": {"S": "INPROGRESS"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        stored = store._item_to_data_record(exc.response["Item"])
        if stored.status == "COMPLETED":
            return stored.response_json_as_dict()
        raise IdempotencyAlreadyInProgressError(f"{key_prefix}: {idempotency_key} is in progress") from None
    return None


@functools.lru_cache(maxsize=8)
def _persistence(client: Any, table: str, key_prefix: str, key: str, ttl_seconds: int) -> Any:
    """Powertools' persistence layer as ``@once`` configures it (the key, its hash, the record's
    attributes), one per container and clients (``runtime.reset()`` builds new ones)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

    store = DynamoDBPersistenceLayer(table_name=table, boto3_client=client)
    store.configure(IdempotencyConfig(event_key_jmespath=key, raise_on_no_idempotency_key=True,
                                      expires_after_seconds=ttl_seconds), key_prefix=key_prefix)
    return store
