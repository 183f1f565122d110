"""Timeline entries held until the end of an invocation and then written together.

Kept apart from dynamodb_state (which imports botocore) so a handler opens the block at no
import cost; the store looks here when it records an entry."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

# Per thread (the local stack runs several handlers in one process):
# store -> {(ent_id, document key): (entries, aliases)}. Unset: each entry is written at once.
_held = threading.local()


def held_timelines() -> dict[Any, dict[tuple[str, str], Any]] | None:
    return getattr(_held, "stores", None)


@contextmanager
def timeline_held() -> Iterator[None]:
    """Hold the timeline entries recorded in this block (this thread) and write them when it ends,
    also when it ends with an error: the entries of one document as one item (one request and one
    write unit for a callback's steps, where each cost its own). A callback's entries are its
    trace (`o2o trace`), read after it answered, never by the flow that records them; only an
    invocation killed outright (a Lambda timeout) loses the entries of its last moments, and its
    retry records them again."""
    if held_timelines() is not None:  # nested: the outer block writes
        yield
        return
    _held.stores = {}
    try:
        yield
    finally:
        stores, _held.stores = _held.stores, None
        for store, documents in stores.items():
            for (ent_id, key), held in documents.items():
                store.write_held(ent_id, key, held)


class _Apart:
    dropped = False

    def drop(self) -> None:
        """Forget what the block recorded: it is not written."""
        self.dropped = True


@contextmanager
def timeline_apart() -> Iterator[_Apart]:
    """Hold the entries recorded in this block apart, and hand them to the block around it (or
    write them, outside one) when it ends, unless ``drop()`` was called: work that turned out to
    be a repeat, or that is done again another way, leaves no entry of its own."""
    outer, _held.stores, apart = held_timelines(), {}, _Apart()
    try:
        yield apart
    finally:
        inner, _held.stores = _held.stores, outer
        if not apart.dropped:
            for store, documents in inner.items():
                for document, (entries, aliases) in documents.items():
                    if outer is None:
                        store.write_held(document[0], document[1], (entries, aliases))
                        continue
                    kept_entries, kept_aliases = outer.setdefault(store, {}).setdefault(document, ([], set()))
                    kept_entries.extend(entries)
                    kept_aliases.update(aliases)
