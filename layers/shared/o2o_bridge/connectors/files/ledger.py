"""Ledger in local files for the local stack: the same layout as in S3
(``<root>/tenant=E/day=YYYY-MM-DD/batch-<digest>.jsonl`` from the ledger writer, or a fact's own
``<kind>-<digest>.jsonl``; once a closed day is compacted, one
``compacted.jsonl``, plain since DuckDB reads plain JSON Lines faster than gzip), so DuckDB runs the reports' SQL over it exactly as Athena does over
the bucket.

A batch (or a fact) is written to a temporary file and linked into place only if its name is
free, so a batch delivered again (or a concurrent duplicate) never writes it twice and a reader never sees half
a fact. Compaction replaces the compacted file atomically (``os.replace``) before it removes
the files it merged, under a lock per day folder so two compactions of a day take turns.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

from ...ledger import (COMPACTED_PLAIN, BatchObject, Compaction, Fact, compacted_body, day_folder, fact_body, fact_object_name,
                       is_fact_object, merge_rows)


class FileLedger:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def append(self, fact: Fact) -> bool:
        return self._create(fact_object_name(fact), fact_body(fact))

    def put_batch(self, batch: BatchObject) -> bool:
        return self._create(batch.name, batch.body)

    def _create(self, name: str, body: bytes) -> bool:
        target = self.root / name
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=target.parent, prefix=".", suffix=".tmp", delete=False) as tmp:
            tmp.write(body)
        try:
            os.link(tmp.name, target)  # fails if the name is taken: the first write wins
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp.name)
        return True

    # --- compaction ------------------------------------------------------------------------
    def loose_objects(self, ent_id: str, day: str) -> list[tuple[str, int]]:
        folder = self.root / day_folder(ent_id, day)
        if not folder.is_dir():
            return []
        return sorted((str(path), path.stat().st_size) for path in folder.iterdir() if is_fact_object(path.name))

    def compact_day(self, ent_id: str, day: str) -> Compaction:
        folder = self.root / day_folder(ent_id, day)
        if not folder.is_dir():
            return Compaction(ent_id, day, 0, 0, 0, 0)
        with open(folder / ".compaction.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            loose = self.loose_objects(ent_id, day)
            if not loose:
                return Compaction(ent_id, day, 0, 0, 0, 0)
            target = folder / COMPACTED_PLAIN
            compacted = target.read_bytes() if target.exists() else b""
            rows = merge_rows([compacted, *(Path(name).read_bytes() for name, _ in loose)])
            body = compacted_body(rows, gzip=False)
            with tempfile.NamedTemporaryFile("wb", dir=folder, prefix=".", suffix=".tmp", delete=False) as tmp:
                tmp.write(body)
            os.replace(tmp.name, target)  # readers see the old compacted file or the new one, never half
            for name, _ in loose:
                Path(name).unlink(missing_ok=True)
        return Compaction(ent_id, day, len(loose), len(rows), len(compacted) + sum(size for _, size in loose),
                          len(body))

    def tenants(self) -> list[str]:
        return sorted(path.name.split("=", 1)[1] for path in self.root.glob("tenant=*") if path.is_dir())
