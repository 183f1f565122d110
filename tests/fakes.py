"""In-memory implementations of the ports, for flow unit tests."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from o2o_bridge.ports import Cursor, DocumentLink, TimelineEntry


class FakeTenants:
    def __init__(self, *tenants) -> None:
        self.tenants = {t.ent_id: t for t in tenants}

    def get(self, ent_id):
        return self.tenants.get(ent_id)

    def put(self, tenant) -> None:
        self.tenants[tenant.ent_id] = tenant

    def list_ids(self):
        return sorted(self.tenants)


class FakeTimeline:
    def __init__(self) -> None:
        self.items: list[TimelineEntry] = []

    def record(self, key, ent_id, step, detail=None, *, level="info", aliases=()):
        self.items.append(TimelineEntry(key, ent_id, datetime.now(timezone.utc), step, detail or {}, level))

    def entries(self, key):
        return [e for e in self.items if e.key == key]

    def steps(self, key=None) -> list[str]:
        return [e.step for e in self.items if key is None or e.key == key]


class FakeCommandQueue:
    def __init__(self) -> None:
        self.queued: list[tuple[Any, int]] = []
        self.dead: list[Any] = []

    def enqueue(self, envelope, delay_seconds):
        self.queued.append((envelope, delay_seconds))

    def dead_letter(self, letter):
        self.dead.append(letter)


class FakeLinks:
    def __init__(self) -> None:
        self.links: dict[tuple[str, str, str, str], DocumentLink] = {}

    def link(self, link: DocumentLink) -> DocumentLink:
        key = (link.ent_id, link.kind, link.key, link.other_kind)
        if key in self.links:
            return self.links[key]
        self.links[key] = link
        reverse = DocumentLink(link.ent_id, link.other_kind, link.other_key, link.kind, link.key, link.data)
        self.links[(link.ent_id, link.other_kind, link.other_key, link.kind)] = reverse
        return link

    def find(self, ent_id, kind, key, other_kind):
        return self.links.get((ent_id, kind, key, other_kind))


class FakeCursors:
    def __init__(self) -> None:
        self.cursors: dict[tuple[str, str], Cursor] = {}

    def get(self, ent_id, name):
        return self.cursors.get((ent_id, name))

    def advance(self, ent_id, name, value, expected_version):
        current = self.cursors.get((ent_id, name))
        if (current.version if current else None) != expected_version:
            return False
        self.cursors[(ent_id, name)] = Cursor(ent_id, name, value, (expected_version or 0) + 1, datetime.now(timezone.utc))
        return True
