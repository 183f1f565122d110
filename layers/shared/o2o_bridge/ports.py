"""The small typed interfaces flows depend on. Adapters implement them for AWS and the
outside systems; tests implement them in memory (tests/fakes.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # keep pydantic models out of cold starts that never need them
    from .retry import DeadLetter, RetryEnvelope
    from .tenant import Tenant


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


class TenantRepository(Protocol):
    def get(self, ent_id: str) -> "Tenant | None": ...
    def put(self, tenant: "Tenant") -> None: ...
    def list_ids(self) -> list[str]: ...


class LinkRepository(Protocol):
    def link(self, link: DocumentLink) -> DocumentLink:
        """Record the link both ways; returns the stored link (the first one wins)."""

    def find(self, ent_id: str, kind: str, key: str, other_kind: str) -> DocumentLink | None: ...


class CursorRepository(Protocol):
    def get(self, ent_id: str, name: str) -> Cursor | None: ...

    def advance(self, ent_id: str, name: str, value: str, expected_version: int | None) -> bool:
        """Move the cursor if nobody else moved it since ``expected_version``; False otherwise."""


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

    def entries(self, key: str) -> list[TimelineEntry]: ...


class CommandQueue(Protocol):
    """Where work that failed transiently waits, and where hopeless work is laid to rest."""

    def enqueue(self, envelope: "RetryEnvelope", delay_seconds: int) -> None: ...
    def dead_letter(self, letter: "DeadLetter") -> None: ...


class SecretResolver(Protocol):
    def resolve(self, reference: str) -> str:
        """The value behind ``secretsmanager:NAME[#json_key]``."""
