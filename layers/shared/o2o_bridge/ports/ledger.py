"""The document ledger (ledger.py): every business fact, appended once, never changed.
connectors/aws/s3_ledger.py writes it to S3, connectors/files/ledger.py to local files for the
local stack; ledger.MemoryLedger keeps it in memory (tests, benches)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..ledger import Compaction, Fact


class Ledger(Protocol):
    def append(self, fact: "Fact") -> bool:
        """Write ``fact`` unless a fact with its key is already there; True when written now."""


class CompactableLedger(Ledger, Protocol):
    """A stored ledger whose closed days can be merged into one object per tenant and day."""

    def tenants(self) -> list[str]:
        """Tenants that have facts."""

    def loose_objects(self, ent_id: str, day: str) -> list[tuple[str, int]]:
        """The day's single-fact objects (name, size) not merged yet."""

    def compact_day(self, ent_id: str, day: str) -> "Compaction":
        """Merge the day's single-fact objects into its compacted object, then delete them."""
