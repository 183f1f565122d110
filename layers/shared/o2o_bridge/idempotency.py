"""Exactly-once effects over Powertools idempotency.

``@once("pos_events.event", key="event_id")`` makes a function run once per key: a
repeat returns the first result and changes nothing. The key prefix is stable (it does
not depend on the Lambda's name or module path, which change between stacks), and a
record without its key is an error, never silently processed twice.
"""

from __future__ import annotations

import functools
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
