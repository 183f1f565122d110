"""Ledger in local files for the local stack: the same layout as in S3
(``<root>/tenant=E/day=YYYY-MM-DD/<kind>-<digest>.jsonl``), so DuckDB runs the reports' SQL
over it exactly as Athena does over the bucket.

A fact is written to a temporary file and linked into place only if its name is free, so a
replay (or a concurrent duplicate) never writes the fact twice and a reader never sees half
a fact.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ...ledger import Fact, fact_body, fact_object_name


class FileLedger:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def append(self, fact: Fact) -> bool:
        target = self.root / fact_object_name(fact)
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=target.parent, prefix=".", suffix=".tmp", delete=False) as tmp:
            tmp.write(fact_body(fact))
        try:
            os.link(tmp.name, target)  # fails if the name is taken: the first write wins
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp.name)
        return True
