"""In-memory implementations of the ports, for flow unit tests."""

from __future__ import annotations

import copy
import dataclasses
import heapq
import threading
from datetime import datetime, timezone
from typing import Any

from o2o_bridge.ports import ClaimedRecord, Cursor, DocumentLink, Record, TimelineEntry


class FakeTenants:
    def __init__(self, *tenants) -> None:
        self.tenants = {t.ent_id: t for t in tenants}

    def get(self, ent_id):
        return self.tenants.get(ent_id)

    def get_with_records(self, ent_id, wanted):
        return self.get(ent_id), None  # nothing read ahead: the records are in memory

    def put(self, tenant) -> None:
        self.tenants[tenant.ent_id] = tenant

    def list_ids(self):
        return sorted(self.tenants)


class FakeTimeline:
    def __init__(self) -> None:
        self.items: list[TimelineEntry] = []

    def record(self, key, ent_id, step, detail=None, *, level="info", aliases=()):
        self.items.append(TimelineEntry(key, ent_id, datetime.now(timezone.utc), step, detail or {}, level))

    def entries(self, key, ent_id=None):
        return [e for e in self.items if e.key == key and ent_id in (None, e.ent_id)]

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


class FakeRecords:
    """RecordRepository in memory, with the same conditional-write rules as DynamoDB's."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], Record] = {}
        self.ranks: dict[tuple[str, str, str], int] = {}  # put_newer's rank of a record (DynamoDB: its attribute)
        self._lock = threading.Lock()  # flows are replayed concurrently in tests

    def get(self, ent_id, kind, key):
        return self.items.get((ent_id, kind, key))

    def put(self, ent_id, kind, key, data, *, expected_version=None, ttl_days=None):
        return self.put_or_current(ent_id, kind, key, data, expected_version=expected_version, ttl_days=ttl_days)[0]

    def put_or_current(self, ent_id, kind, key, data, *, expected_version=None, ttl_days=None):
        with self._lock:
            current = self.items.get((ent_id, kind, key))
            if (current.version if current else None) != expected_version:
                return None, current
            record = Record(ent_id, kind, key, copy.deepcopy(data), (expected_version or 0) + 1,
                            datetime.now(timezone.utc))
            self.items[(ent_id, kind, key)] = record
            self.ranks.pop((ent_id, kind, key), None)  # a put replaces the whole item, rank and all
            self._drop_claims((ent_id, kind, key))
            return record, None

    def put_joined(self, ent_id, kind, key, data, *, expected_version, ttl_days=None, writes):
        """One by one, as DynamoDB does when the joined request is refused: each write of
        ``writes()`` is its own crash point (tests/exactly_once), the stricter case."""
        result = writes()
        return self.put(ent_id, kind, key, data, expected_version=expected_version, ttl_days=ttl_days), result

    def put_newer(self, ent_id, kind, key, data, *, rank, unranked_version=None, ttl_days=None):
        with self._lock:
            current = self.items.get((ent_id, kind, key))
            stored_rank = self.ranks.get((ent_id, kind, key))
            if current is not None and (stored_rank >= rank if stored_rank is not None
                                        else current.version != unranked_version):
                return None, current
            self.ranks[(ent_id, kind, key)] = rank
            return self._write(ent_id, kind, key, data, current), None

    def put_always(self, ent_id, kind, key, data, *, ttl_days=None):
        with self._lock:
            return self._write(ent_id, kind, key, data, self.items.get((ent_id, kind, key)))

    def _write(self, ent_id, kind, key, data, current):
        # An UpdateItem in DynamoDB: the item's other attributes (its marks) stay.
        record = Record(ent_id, kind, key, copy.deepcopy(data), (current.version if current else 0) + 1,
                        datetime.now(timezone.utc), current.marks if current else frozenset())
        self.items[(ent_id, kind, key)] = record
        return record

    def remember_read(self, ent_id, wanted, found):
        pass  # nothing to remember: every read is in memory

    def prefetch(self, ent_id, wanted):
        """In memory every read is free: nothing to read ahead."""

    def get_many(self, ent_id, kind, keys):
        return {key: self.items[(ent_id, kind, key)] for key in keys if (ent_id, kind, key) in self.items}

    def put_many(self, ent_id, kind, writes, *, ttl_days=None):
        refused = []
        for start in range(0, len(writes), 100):  # as DynamoDB: 100 to a transaction, all or none
            group = writes[start:start + 100]
            with self._lock:
                if any((self.items[(ent_id, kind, key)].version if (ent_id, kind, key) in self.items else None)
                       != expected for key, _, expected in group):
                    refused.extend(key for key, _, _ in group)
                    continue
                for key, data, expected in group:
                    self.ranks.pop((ent_id, kind, key), None)
                    self._drop_claims((ent_id, kind, key))
                    self.items[(ent_id, kind, key)] = Record(ent_id, kind, key, copy.deepcopy(data), (expected or 0) + 1,
                                                             datetime.now(timezone.utc))
        return refused

    def get_many_of(self, ent_id, wanted):
        return {(kind, key): self.items[(ent_id, kind, key)] for kind, key in wanted if (ent_id, kind, key) in self.items}

    def write_together(self, ent_id, writes, *, trace=None, traces=()):
        """As DynamoDB's transaction: every condition holds, or nothing is written and each write
        says whether its condition failed, with what is stored. The trace goes to ``timeline``
        (fake_context sets it) with the writes."""
        with self._lock:
            outcome = []
            for w in writes:
                current, rank = self.items.get((ent_id, w.kind, w.key)), self.ranks.get((ent_id, w.kind, w.key))
                if w.add_marks:  # no condition
                    failed = False
                elif w.delete:
                    failed = w.expect_version and (current.version if current else None) != w.expected_version
                elif w.data is None:
                    failed = current is None or rank is None or rank <= w.rank_above
                    failed = failed or (w.members_below is not None and len(current.members) >= w.members_below)
                elif w.members_below is not None and current is not None and len(current.members) >= w.members_below:
                    failed = True
                elif w.expect_version:
                    failed = (current.version if current else None) != w.expected_version
                elif w.rank is not None:
                    failed = current is not None and (rank is None or rank >= (w.rank if w.rank_below is None else w.rank_below))
                else:
                    failed = False
                outcome.append((failed, current))
            if any(failed for failed, _ in outcome):
                return outcome
            for w in writes:
                if w.add_marks:  # the marks added, the version raised; the data only where none is
                    at = (ent_id, w.kind, w.key)
                    current = self.items.get(at)
                    marks = (current.marks if current else frozenset()) | frozenset(w.add_marks)
                    self.items[at] = Record(ent_id, w.kind, w.key,
                                            copy.deepcopy(current.data if current else (w.data or {})),
                                            (current.version if current else 0) + 1, datetime.now(timezone.utc), marks)
                    continue
                if w.delete:
                    self.items.pop((ent_id, w.kind, w.key), None)
                    self.ranks.pop((ent_id, w.kind, w.key), None)
                    self._drop_claims((ent_id, w.kind, w.key))
                    continue
                if w.data is None:
                    if w.touch:  # the version goes up, the data stays
                        current = self.items[(ent_id, w.kind, w.key)]
                        self._with_members(self._write(ent_id, w.kind, w.key, current.data, current), current, w)
                    continue
                if w.rank is not None:
                    self.ranks[(ent_id, w.kind, w.key)] = w.rank
                current = self.items.get((ent_id, w.kind, w.key))
                self._with_members(self._write(ent_id, w.kind, w.key, w.data, current), current, w)
        if getattr(self, "timeline", None) is not None:
            for document, step, detail in ((trace,) if trace is not None else ()) + tuple(traces):
                self.timeline.record(document, ent_id, step, detail)
        return None

    def _with_members(self, record, before, write):
        """A write_together update keeps the record's members (DynamoDB: an attribute beside its
        data), changed by the write's add_members / drop_members."""
        members = ((before.members if before is not None else frozenset()) | set(write.add_members)) - set(
            write.drop_members)
        marks = record.marks - set(write.drop_marks)
        if members != record.members or marks != record.marks:
            self.items[(record.ent_id, record.kind, record.key)] = dataclasses.replace(
                record, members=frozenset(members), marks=frozenset(marks))

    def put_many_traced(self, ent_id, kind, writes, *, trace_key, ttl_days=None):
        """The timeline is written as it is recorded here: nothing held to write along."""
        return self.put_many(ent_id, kind, writes, ttl_days=ttl_days)

    def delete(self, ent_id, kind, key, *, expected_version=None):
        with self._lock:
            current = self.items.get((ent_id, kind, key))
            if expected_version is not None and (current is None or current.version != expected_version):
                return False
            self.items.pop((ent_id, kind, key), None)
            self.ranks.pop((ent_id, kind, key), None)
            self._drop_claims((ent_id, kind, key))
            return True

    def list(self, ent_id, kind, *, prefix=""):
        return sorted((r for (e, k, key), r in self.items.items() if e == ent_id and k == kind and key.startswith(prefix)),
                      key=lambda r: r.key)

    def list_page(self, ent_id, kind, *, after="", limit=100):
        keys = heapq.nsmallest(limit, (key for (e, k, key) in list(self.items) if e == ent_id and k == kind and key > after))
        return [self.items[(ent_id, kind, key)] for key in keys if (ent_id, kind, key) in self.items]

    # --- a document's record with its effects' claim and marks (DynamoDB: attributes of the item) ---
    def _claimed(self, at):
        record = self.items.get(at)
        if record is None:
            return None
        owner, until = self.claims.get(at, (None, None))
        return ClaimedRecord(copy.deepcopy(record.data), record.version, owner, until, self.marks.get(at, frozenset()),
                             self.steps.get(at, ()))

    @property
    def claims(self):
        return self.__dict__.setdefault("_claims", {})

    @property
    def marks(self):
        return self.__dict__.setdefault("_marks", {})

    @property
    def steps(self):
        return self.__dict__.setdefault("_steps", {})

    def _drop_claims(self, at):
        """A put or a delete replaces the whole item: its claim, marks and steps too."""
        for part in (self.claims, self.marks, self.steps):
            part.pop(at, None)

    def claim(self, ent_id, kind, key, *, owner, until, now, unless=(), ttl_days=None):
        at = (ent_id, kind, key)
        with self._lock:
            if at not in self.items:  # e.g. a test cleared ``items``: what rode on them went too
                self._drop_claims(at)
            held = self.claims.get(at)
            if (held is not None and held[1] >= now) or any(m in self.marks.get(at, ()) for m in unless):
                return False, self._claimed(at)
            if at not in self.items:
                self.items[at] = Record(ent_id, kind, key, {}, 0, datetime.now(timezone.utc))
            self.claims[at] = (owner, until)
            return True, self._claimed(at)

    def complete(self, ent_id, kind, key, *, owner, data, expected_version, marks, steps=None, ttl_days=None,
                 writes=None):
        """``writes()`` first, one write at a time (as DynamoDB does when the joined request is
        refused: each its own crash point, the stricter case), then the "done"."""
        if writes is not None:
            writes()
        at = (ent_id, kind, key)
        with self._lock:
            current = self.items.get(at)
            if current is None or self.claims.get(at, (None,))[0] != owner or current.version != expected_version:
                return False, self._claimed(at)
            self.items[at] = Record(ent_id, kind, key, copy.deepcopy(data), expected_version + 1,
                                    datetime.now(timezone.utc))
            self.claims.pop(at, None)
            self.marks[at] = frozenset(marks)
            if steps is not None:
                self.steps[at] = tuple(steps)
            return True, self._claimed(at)

    def complete_together(self, ent_id, writes):
        """As DynamoDB's transaction: every claim still its owner's at the version read, or nothing."""
        with self._lock:
            for w in writes:
                at = (ent_id, w["kind"], w["key"])
                current = self.items.get(at)
                if current is None or self.claims.get(at, (None,))[0] != w["owner"] \
                        or current.version != w["expected_version"]:
                    return False
            for w in writes:
                at = (ent_id, w["kind"], w["key"])
                self.items[at] = Record(ent_id, w["kind"], w["key"], copy.deepcopy(w["data"]), w["expected_version"] + 1,
                                        datetime.now(timezone.utc))
                self.claims.pop(at, None)
                self.marks[at] = frozenset(w["marks"])
                if w.get("steps") is not None:
                    self.steps[at] = tuple(w["steps"])
        return True

    def release(self, ent_id, kind, key, *, owner, marks=None, created=False):
        at = (ent_id, kind, key)
        with self._lock:
            if self.claims.get(at, (None,))[0] != owner:
                return False
            self.claims.pop(at)
            if marks:
                self.marks[at] = frozenset(marks)
            elif created and self.items.get(at) is not None and self.items[at].version == 0:
                self.items.pop(at)
            return True

    def replace(self, ent_id, kind, key, data, *, expected_version=None, ttl_days=None):
        at = (ent_id, kind, key)
        with self._lock:
            current = self.items.get(at)
            if (current.version if current else None) != expected_version:
                return None
            record = Record(ent_id, kind, key, copy.deepcopy(data), (expected_version or 0) + 1,
                            datetime.now(timezone.utc), current.marks if current else frozenset())
            self.items[at] = record
            return record


class FakeMetrics:
    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def __call__(self, name, value=1):
        self.values[name] = self.values.get(name, 0) + value


def tenant_errors(doc) -> list[str]:
    """The messages a tenant document that must be refused is refused with (`o2o tenant put` prints them)."""
    import pytest
    from pydantic import ValidationError

    from o2o_bridge.tenant import parse_tenant, validation_messages

    with pytest.raises(ValidationError) as caught:
        parse_tenant(doc)
    return validation_messages(caught.value)


def fake_context(tenant, *, jst=None, store=None, **overrides):
    """A FlowContext over in-memory fakes; pass the JstApi / StoreSystem fakes a test needs.
    A JstApi fake is wrapped in the JST connector's Warehouse and Erp adapters (so the JST
    mappers run too) unless ``warehouse`` / ``erp`` are given. Every fake is reachable as an
    attribute of the returned context (ctx.records.items, ctx.jst, …)."""
    from o2o_bridge.connectors.jushuitan.erp import JstErp
    from o2o_bridge.connectors.jushuitan.warehouse import JstWarehouse
    from o2o_bridge.flows.kit import FlowContext

    @dataclasses.dataclass
    class TestFlowContext(FlowContext):
        """Like a Lambda's context, whose adapters are built for the tenant as loaded: a test
        that changes ``ctx.tenant`` gets the JST adapters for the changed tenant. ``jst`` is the
        test's handle on its JST fake (flows never read it)."""

        jst: Any = None

        def __setattr__(self, name, value):
            super().__setattr__(name, value)
            if name == "tenant" and jst_adapters:
                super().__setattr__("warehouse", JstWarehouse(self.jst, value))
                super().__setattr__("erp", JstErp(self.jst, value))

    jst_adapters = jst is not None and "warehouse" not in overrides and "erp" not in overrides
    if jst is not None:
        overrides.setdefault("warehouse", JstWarehouse(jst, tenant))
        overrides.setdefault("erp", JstErp(jst, tenant))
    overrides.setdefault("warehouse", None)
    overrides.setdefault("erp", None)
    parts = dict(tenant=tenant, jst=jst, store=store, links=FakeLinks(), cursors=FakeCursors(),
                 records=FakeRecords(), timeline=FakeTimeline(), queue=FakeCommandQueue(), metric=FakeMetrics(),
                 retry_base_delay_seconds=0)
    parts.update(overrides)
    if isinstance(parts["records"], FakeRecords):  # a trace written with records goes to the timeline
        parts["records"].timeline = parts["timeline"]
    return TestFlowContext(**parts)


def drain_retries(ctx, *, max_rounds: int = 50, steps=()) -> int:
    """Run what ``ctx.queue`` holds through the real RetryRunner (no delays) until it is empty,
    with ``ctx`` as every retried command's context; returns how many envelopes ran. ``steps``:
    a test's own ``@flow_command`` steps, run beside the bridge's (wiring.retry_commands)."""
    from o2o_bridge import wiring
    from o2o_bridge.retry import RetryRunner

    registry = wiring.command_registry(lambda tenant: ctx)
    for step in steps:
        registry.register(step.command_name)(lambda command, step=step: step(ctx, command.payload))
    runner = RetryRunner(registry, ctx.queue, FakeTenants(ctx.tenant),
                         ctx.timeline, max_attempts=10, base_delay_seconds=0, no_delay=True)
    ran = 0
    for _ in range(max_rounds):
        if not ctx.queue.queued:
            return ran
        batch, ctx.queue.queued = ctx.queue.queued, []
        for envelope, _delay in batch:
            runner.run(envelope)
            ran += 1
    raise AssertionError(f"retries did not drain in {max_rounds} rounds: {len(ctx.queue.queued)} left")
