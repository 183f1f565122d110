"""Fixtures for the JST adapter tests."""

from __future__ import annotations

import threading

import pytest


@pytest.fixture
def item_atomic_moto(monkeypatch):
    """Real DynamoDB applies a conditional write atomically; moto's in-process backend checks
    and writes without a lock, so two threads can both pass the same condition. Give moto
    that one property of the real service (and nothing else) for the concurrency tests."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("transact_write_items", "put_item", "update_item"):
        original = getattr(DynamoDBBackend, name)

        def atomic(self, *args, _original=original, **kwargs):
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, atomic)
