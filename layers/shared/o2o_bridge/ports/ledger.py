"""The document ledger (ledger.py): every business fact, appended once, never changed.
connectors/aws/s3_ledger.py writes it to S3, connectors/files/ledger.py to local files for the
local stack; ledger.MemoryLedger keeps it in memory (tests, benches)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..ledger import Fact


class Ledger(Protocol):
    def append(self, fact: "Fact") -> bool:
        """Write ``fact`` unless a fact with its key is already there; True when written now."""
