"""The ledger writer (functions/ledger_writer, the ledger queue's consumer): a batch of queued
facts stored as one object per tenant and day (ledger.py, the ledger queue).

- *Nothing twice.* An object is named after its contents and written only if that name is free,
  so a batch delivered again (the writer died after writing, or its answer was lost) writes
  nothing new; a fact sent twice, in two batches, is kept once by the readers and compaction.
- *Nothing lost.* A message is acknowledged only once the object holding it is written (or was
  there already): an object that could not be written fails its messages alone (a partial batch
  response), SQS delivers them again, and after ``maxReceiveCount`` they wait in LedgerDLQ.
- *A poisoned message blocks nothing.* One that is not a fact (``PoisonedFact``) is parked with
  its reason (``o2o dlq list``) and acknowledged; the rest of the batch is written.
- *Tenants apart.* Facts are grouped by the tenant their message names, each tenant's day in its
  own object under its own ``tenant=E/`` folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable

from ..ledger import PoisonedFact, QueuedFact, batch_objects, read_fact_message

if TYPE_CHECKING:
    from ..ports.ledger import LedgerStore


@dataclass(frozen=True)
class LedgerMessage:
    message_id: str
    body: str
    sent_ms: int   # SQS SentTimestamp: when the flow recorded the fact


@dataclass
class BatchOutcome:
    written: int = 0          # objects written now
    already_there: int = 0    # objects a previous delivery of the same batch wrote
    facts: int = 0            # facts stored (each key once per object)
    parked: list[str] = field(default_factory=list)            # message ids parked as poisoned
    failed: dict[str, str] = field(default_factory=dict)       # message id -> why not stored (delivered again)

    def as_dict(self) -> dict:
        return {"written": self.written, "already_there": self.already_there, "facts": self.facts,
                "parked": len(self.parked), "failed": len(self.failed)}


def write_batch(store: "LedgerStore", messages: Iterable[LedgerMessage], *,
                park: Callable[[LedgerMessage, str], None]) -> BatchOutcome:
    """Store a batch; ``failed`` names the messages to deliver again."""
    outcome = BatchOutcome()
    facts: list[QueuedFact] = []
    for message in messages:
        try:
            facts.append(read_fact_message(message.body, message_id=message.message_id, sent_ms=message.sent_ms))
        except PoisonedFact as exc:
            try:
                park(message, f"poisoned ledger message: {exc}")
            except Exception as failure:  # noqa: BLE001 - not parked: delivered again, LedgerDLQ at the end
                outcome.failed[message.message_id] = f"not parked: {type(failure).__name__}"
            else:
                outcome.parked.append(message.message_id)
    for batch in batch_objects(facts):
        try:
            written = store.put_batch(batch)
        except Exception as exc:  # noqa: BLE001 - this object's messages fail, the other objects go on
            for message_id in batch.message_ids:
                outcome.failed[message_id] = f"{batch.name}: {type(exc).__name__}: {exc}"
            continue
        outcome.facts += batch.facts
        if written:
            outcome.written += 1
        else:
            outcome.already_there += 1
    return outcome
