"""State ports: what flows keep between runs (document links, cursors, versioned records, the
per-document timeline), where failed work waits (the command queue) and how a secret
reference is resolved. connectors/aws implements them over DynamoDB, SQS and Secrets Manager;
tests/fakes.py in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Protocol


@dataclass(frozen=True)
class DocumentLink:
    """A binder record: our knowledge that one system's document is another's."""

    ent_id: str
    kind: str
    key: str
    other_kind: str
    other_key: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MalformedRow:
    """A row an outside system listed that the bridge cannot read (a missing or mistyped field).

    A poll's connector returns it in place of the row, so the scan parks it with the reason
    (kit.each_record) and goes on with the rows behind it; ``ts`` keeps the cursor moving."""

    source: str  # e.g. "JST /open/orders/out/simple/query"
    raw: dict[str, Any]
    problem: str
    key: str  # the row's business key when it has one, else a digest of the row
    ts: int = 0

    @property
    def position(self) -> int:  # sorts with the records of its page
        return self.ts


@dataclass(frozen=True)
class Cursor:
    ent_id: str
    name: str
    value: str
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class TimelineEntry:
    """One step in the life of a document, as `o2o trace KEY` prints it."""

    key: str
    ent_id: str
    at: datetime
    step: str
    detail: dict[str, Any]
    level: str = "info"


@dataclass(frozen=True)
class TogetherWrite:
    """One record of ``RecordRepository.write_together``: ``data`` written as its next version,
    over a lower ``rank`` only (``rank_below``: over a rank lower than that instead), or at
    ``expected_version`` only (``expect_version``), or else whatever is stored; ``data`` None
    writes nothing and only checks that the stored rank is above ``rank_above`` (``touch``: and
    raises the record's version, data unchanged, so whoever read the record before knows a
    writer came since)."""

    kind: str
    key: str
    data: dict[str, Any] | None = None
    rank: int | None = None
    rank_below: int | None = None
    rank_above: int | None = None
    expect_version: bool = False
    expected_version: int | None = None  # with expect_version: None = only if absent
    ttl_days: int | None = None
    touch: bool = False
    # True: the record is deleted instead (at ``expected_version`` with ``expect_version``).
    delete: bool = False
    # Marks added to the record (``Record.marks``) and its version raised, on no condition and
    # with nothing read: ``data`` is then the record's data only where none is stored yet (the
    # data stays otherwise). Cannot be refused, so inside a block that holds writes
    # (``put_joined``, ``complete(writes=...)``) such writes go with the block's request.
    add_marks: tuple[str, ...] = ()
    # Marks taken from the record by a write of its ``data`` (the others stay, as its members do).
    drop_marks: tuple[str, ...] = ()
    # The record's ``members`` (a set of strings kept beside its data, e.g. the SKUs a stock flush
    # is to send): added to, or taken from, in the same write; a touch adds too. ``members_below``:
    # the write holds only while the record has fewer members than that (or none).
    add_members: tuple[str, ...] = ()
    drop_members: tuple[str, ...] = ()
    members_below: int | None = None


@dataclass
class GrantRiders:
    """Record writes that go with the rate-limit grant of one outside call (``Erp.upload_store_stock``'s
    ``riders``): ``write_together``'s writes and trace, sent in the very request that takes the
    call's grant, before the call goes out, all or none. So a flow that must write something
    before a call (a stock flush closing its window) pays no request of its own for it.

    The adapter whose rate limiter writes the grant joins them to it (connectors/pacing.py); one
    whose call takes no grant it can join writes them first through ``write`` (the flow's
    ``RecordRepository.write_together``). The call goes out either way. After it: ``sent`` False,
    they were not sent (the call was never made, or made without a grant: the caller writes what it
    must itself); ``written``, they were written before the call went out; else ``refused`` is
    ``write_together``'s answer (a condition failed: nothing of them was written)."""

    ent_id: str
    writes: list[TogetherWrite]
    trace: tuple[str, str, dict[str, Any]] | None
    write: Callable[..., Any]
    sent: bool = False
    refused: list[tuple[bool, "Record | None"]] | None = None

    @property
    def written(self) -> bool:
        return self.sent and self.refused is None

    def send_apart(self) -> None:
        """Write them on their own (no grant to join), once."""
        if not self.sent:
            self.refused = self.write(self.ent_id, list(self.writes), trace=self.trace)
            self.sent = True


@dataclass(frozen=True)
class Record:
    """A small piece of flow state: an effect done once, a routing decision, an exception,
    a stock version. ``kind`` groups records of one tenant so they can be listed."""

    ent_id: str
    kind: str
    key: str
    data: dict[str, Any]
    version: int
    updated_at: datetime
    # Marks beside the data (``TogetherWrite.add_marks``); ``put`` and ``put_many`` (the whole
    # record written) clear them.
    marks: frozenset[str] = frozenset()
    members: frozenset[str] = frozenset()  # TogetherWrite.add_members: beside the data, kept across its writes


@dataclass(frozen=True)
class ClaimedRecord:
    """A document's record as a claim on it left it (``RecordRepository.claim``): its data and
    version, the claim on it (``owner`` and ``until``, seconds since the epoch; None when free),
    its marks (the effects done on the document, the inputs parked on it) and the steps of its
    timeline kept on it. An item that was absent reads as version 0 with empty data."""

    data: dict[str, Any]
    version: int
    owner: str | None = None
    until: float | None = None
    marks: frozenset[str] = frozenset()
    steps: tuple[dict[str, Any], ...] = ()


class LinkRepository(Protocol):
    def link(self, link: DocumentLink) -> DocumentLink:
        """Record the link both ways; returns the stored link (the first one wins)."""

    def find(self, ent_id: str, kind: str, key: str, other_kind: str) -> DocumentLink | None: ...


class CursorRepository(Protocol):
    def get(self, ent_id: str, name: str) -> Cursor | None: ...

    def advance(self, ent_id: str, name: str, value: str, expected_version: int | None) -> bool:
        """Move the cursor if nobody else moved it since ``expected_version``; False otherwise."""


class RecordRepository(Protocol):
    """Versioned flow state with conditional writes, so concurrent Lambdas never both win."""

    def get(self, ent_id: str, kind: str, key: str) -> Record | None: ...

    def put(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *,
            expected_version: int | None = None, ttl_days: int | None = None) -> Record | None:
        """Write if the stored version is ``expected_version`` (None: only if absent).
        Returns the new record, or None when someone else wrote first."""

    def put_or_current(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *,
                       expected_version: int | None = None,
                       ttl_days: int | None = None) -> tuple[Record | None, Record | None]:
        """``put``, and when someone else wrote first, the record stored now: ``(written, None)``
        or ``(None, current)`` (``current`` is None when the record is gone). One request: a
        flow that writes first and decides on a refusal needs no read before its write."""

    def put_joined(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *, expected_version: int | None,
                   ttl_days: int | None = None, writes: Callable[[], Any]) -> tuple[Record | None, Any]:
        """``writes()`` (bookkeeping: record puts, links, timeline entries), then ``put`` of this
        record, written together in one request where the store can (all or none); the same
        outcome as one by one. ``(the record written or None, what writes() returned)``. The store
        may run ``writes()`` twice (the joined request refused, then one by one), so it must do the
        same either time."""

    def put_newer(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *, rank: int,
                  unranked_version: int | None = None,
                  ttl_days: int | None = None) -> tuple[Record | None, Record | None]:
        """Write ``data`` (the next version) unless the stored record ranks ``rank`` or higher (a
        level's own version, say): ``(written, None)`` or ``(None, the record stored now)``. One
        conditional write, no read before it. A record stored without a rank (by ``put``) is
        replaced only when its version is ``unranked_version``: the caller decides on the one
        returned, then writes again with it."""

    def put_always(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *,
                   ttl_days: int | None = None) -> Record:
        """Write ``data`` as the next version whatever is stored: one write, no read, and a worker
        that read the previous version can no longer write over it."""

    def prefetch(self, ent_id: str, wanted: list[tuple[str, str]]) -> None:
        """Read these ``(kind, key)`` records together, in one request, because the flow is about
        to read each of them: its ``get`` of one of them then asks nothing. A hint: a repository
        that reads nothing ahead (the in-memory one) may ignore it."""

    def get_many(self, ent_id: str, kind: str, keys: list[str]) -> dict[str, Record]:
        """The records of these keys that exist (a request per 100 keys, not one per key)."""

    def put_many(self, ent_id: str, kind: str, writes: list[tuple[str, dict[str, Any], int | None]], *,
                 ttl_days: int | None = None) -> list[str]:
        """``put`` of every ``(key, data, expected_version)``, each on its own condition, up to 100 in
        one request (all of those or none). Returns the keys not written, because someone else
        wrote them first; the caller reads them again and decides."""

    def put_many_traced(self, ent_id: str, kind: str, writes: list[tuple[str, dict[str, Any], int | None]], *,
                        trace_key: str, ttl_days: int | None = None) -> list[str]:
        """``put_many``, with the timeline entries of document ``trace_key`` recorded so far in this
        invocation (and not yet written) written in the same request: a flow whose last step is
        this write pays no request of its own for its trace. Where nothing is held, or the write
        is refused, the entries are written as any others."""

    def get_many_of(self, ent_id: str, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], Record]:
        """The records of these ``(kind, key)`` that exist, of any kinds (a request per 100)."""

    def remember_read(self, ent_id: str, wanted: list[tuple[str, str]],
                      found: dict[tuple[str, str], Record]) -> None:
        """These ``(kind, key)`` were read moments ago for this piece of work (``found``: those that
        exist), with its tenant (the retry worker: ``TenantRepository.get_with_records``): a ``get``,
        ``prefetch`` or ``get_many_of`` of them (all of them read so) asks nothing, while no write
        of this piece of work has touched them. A hint: a repository that keeps nothing may ignore it."""

    def write_together(self, ent_id: str, writes: list[TogetherWrite], *,
                       trace: tuple[str, str, dict[str, Any]] | None = None,
                       traces: tuple[tuple[str, str, dict[str, Any]], ...] = ()) -> list[tuple[bool, Record | None]] | None:
        """The ``writes`` (each on its own condition) and the timeline entry ``trace`` (document
        key, step, detail), and those of ``traces`` (one per document), in one request, all or none
        (at most 100 items). None when written; else, per write, whether its condition failed and
        the record stored then, so the caller decides without reading."""

    def delete(self, ent_id: str, kind: str, key: str, *, expected_version: int | None = None) -> bool:
        """Delete (only if the stored version is ``expected_version``, when given). False when
        the condition failed; True otherwise (also when there was nothing to delete)."""

    def list(self, ent_id: str, kind: str, *, prefix: str = "") -> list[Record]:
        """Every record of one kind (keys starting with ``prefix``), in key order."""

    def list_page(self, ent_id: str, kind: str, *, after: str = "", limit: int = 100) -> list[Record]:
        """Up to ``limit`` records of one kind whose keys come after ``after``, in key order; fewer
        than ``limit`` only when no more follow. A reader that goes through a kind that may hold
        thousands (the confirmations waiting after a sale) holds one page, not the kind."""

    # --- a document's record that carries the claims and marks of its effects (kit.claim_document) ---
    def claim(self, ent_id: str, kind: str, key: str, *, owner: str, until: float, now: float,
              unless: tuple[str, ...] = (), ttl_days: int | None = None) -> tuple[bool, ClaimedRecord | None]:
        """Claim the record for ``owner`` until ``until`` if nobody holds it (or its holder's
        ``until`` is before ``now``) and it bears none of the marks ``unless``: one conditional
        write, no read before it, that creates the record (version 0, empty data) when absent.
        ``(True, the record now)`` or ``(False, the record stored now)``."""

    def complete(self, ent_id: str, kind: str, key: str, *, owner: str, data: dict[str, Any],
                 expected_version: int, marks: frozenset[str], steps: tuple[dict[str, Any], ...] | None = None,
                 ttl_days: int | None = None, writes: Callable[[], Any] | None = None) -> tuple[bool, ClaimedRecord | None]:
        """Write ``data`` (the next version), ``marks`` (all of them) and ``steps`` (all of them, when
        given) and free the claim, only if ``owner`` still holds it and the version is
        ``expected_version``: one conditional write. ``(True, the record now)`` or ``(False, the
        record stored now)``. ``writes()``, when given (the effect's bookkeeping: record puts,
        links), is written with it in one request where the store can (all or none), as
        ``put_joined`` joins them; else one by one before it. Either way they are written (or
        answered by what is stored) when this returns, so the caller does not run them again."""

    def complete_together(self, ent_id: str, writes: list[dict[str, Any]]) -> bool:
        """``complete`` of several claimed records in one request, all or none: each of ``writes``
        holds ``complete``'s arguments (``kind``, ``key``, ``owner``, ``data``, ``expected_version``,
        ``marks``, ``steps``, ``ttl_days``). False when any condition fails (or the store cannot
        write them together): then nothing is written, and the caller writes each on its own."""

    def release(self, ent_id: str, kind: str, key: str, *, owner: str,
                marks: frozenset[str] | None = None) -> bool:
        """Free ``owner``'s claim (and set ``marks``, when given), only if it still is ``owner``'s;
        a record the claim created (version 0, no marks) goes with it. False when not ``owner``'s."""

    def replace(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *,
                expected_version: int | None = None, ttl_days: int | None = None) -> Record | None:
        """``put`` that keeps the record's claim, marks and steps (a document's record that
        ``claim`` uses is changed only this way or by ``complete``)."""


class Timeline(Protocol):
    def record(
        self,
        key: str,
        ent_id: str,
        step: str,
        detail: dict[str, Any] | None = None,
        *,
        level: str = "info",
        aliases: tuple[str, ...] = (),
    ) -> None: ...

    def entries(self, key: str, ent_id: str | None = None) -> list[TimelineEntry]:
        """``key``'s timeline at ``ent_id``; flows always name their tenant."""


class QueuedCommand(Protocol):
    """A command waiting for another try (retry.RetryEnvelope): its name, tenant, JSON form."""

    command: str
    ent_id: str | None

    def model_dump_json(self) -> str: ...


class SetAside(Protocol):
    """A command laid to rest with its reason (retry.DeadLetter)."""

    reason: str

    def model_dump_json(self) -> str: ...


class CommandQueue(Protocol):
    """Where work that failed transiently waits, and where hopeless work is laid to rest.
    Exactly once is the flows' business (effect records): the queue delivers at least once."""

    def enqueue(self, envelope: QueuedCommand, delay_seconds: int) -> None: ...
    def dead_letter(self, letter: SetAside) -> None: ...


class SecretResolver(Protocol):
    def resolve(self, reference: str) -> str:
        """The value behind ``secretsmanager:NAME[#json_key]``."""
