"""The document ledger (ledger.py): every business fact, appended once, never changed.
A flow appends to the ledger queue (connectors/aws/sqs_ledger.py); the ledger writer
(flows/ledger_writer.py) stores a batch of facts per tenant and day in S3
(connectors/aws/s3_ledger.py) or, for the local stack, in files (connectors/files/ledger.py);
ledger.MemoryLedger keeps it in memory (tests, benches)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..ledger import BatchObject, Compaction, Fact


class Ledger(Protocol):
    def append(self, fact: "Fact") -> bool:
        """Record ``fact``; a fact whose key is there already counts once. True when written or
        queued now (a queued repeat is told True too: the readers keep its first version)."""


class LedgerStore(Protocol):
    """Where the ledger writer stores a batch's facts."""

    def put_batch(self, batch: "BatchObject") -> bool:
        """Write the batch's object unless it is there already (the same batch again); True when written now."""


class CompactableLedger(Ledger, Protocol):
    """A stored ledger whose closed days can be merged into one object per tenant and day."""

    def tenants(self) -> list[str]:
        """Tenants that have facts."""

    def loose_objects(self, ent_id: str, day: str) -> list[tuple[str, int]]:
        """The day's single-fact objects (name, size) not merged yet."""

    def compact_day(self, ent_id: str, day: str) -> "Compaction":
        """Merge the day's single-fact objects into its compacted object, then delete them."""
