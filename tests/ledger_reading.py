"""The document ledger as a report reads it, for tests that run functions on moto or the local
stack: what waits on LedgerQueue is stored first by the real ledger_writer (the local stack's
SQS event source emulation), then every object of the store is read, each fact key once
(ledger.merge_rows: the version recorded first, as the reports and compaction keep it)."""

from __future__ import annotations

from typing import Any


def store_queued_facts() -> None:
    """Deliver LedgerQueue to ledger_writer until it is empty."""
    from o2o_local.drain import deliver_own_queue
    from o2o_local.template import load_template

    template = load_template()
    deliver_own_queue(template, template.functions["ledger_writer"])


def _bodies() -> list[bytes]:
    from o2o_bridge import runtime

    store = runtime.ledger_store()
    if hasattr(store, "bucket"):
        bodies = []
        for page in store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=store.prefix):
            bodies += [store.client.get_object(Bucket=store.bucket, Key=item["Key"])["Body"].read()
                       for item in page.get("Contents", [])]
        return bodies
    return [path.read_bytes() for path in sorted(store.root.rglob("*.jsonl*")) if not path.name.startswith(".")]


def facts_read(kind: str | None = None) -> list[dict[str, Any]]:
    """The head row (line 0) of every fact a report would count, after storing what is queued."""
    from o2o_bridge.ledger import merge_rows

    store_queued_facts()
    return [row for row in merge_rows(_bodies()) if row["line_no"] == 0 and (kind is None or row["kind"] == kind)]
