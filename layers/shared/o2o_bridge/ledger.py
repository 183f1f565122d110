"""The document ledger: every business fact the bridge handles, appended once, never changed.

A ``Fact`` is one business step (a fulfilment dispatched to a store, a sale at the till, a
COD payment collected...) with its tenant, business time, store, document keys, SKU lines
and money. The reports (``o2o report``) read only the ledger, never the operational tables.

Stored, a fact becomes flat rows (``fact_rows``): row 0 carries the fact's own columns and
money, rows 1..n one SKU line each. Flat rows keep the report SQL to plain ``SELECT`` /
``GROUP BY`` that Athena (Trino) and DuckDB both run unchanged (no UNNEST dialects). The rows
of one fact go to one object named after the fact key under ``tenant=E/day=YYYY-MM-DD/``, so
a replayed step writes the same object again and counts nothing twice.

Personal data is minimised: a fact holds hashed identities (``hash_identity``), never a
mobile number or a name.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from .errors import TransientError
from .shanghai_time import SHANGHAI

# What a fact may be, and how each kind moves the stock of its store (signed per line qty):
# -1 out of the store, +1 into it, 0 no store stock effect (the warehouse's or none).
FACT_KINDS: dict[str, int] = {
    "fulfilment.dispatched": 0,     # S1: an online order handed to a store (reserves, does not move)
    "fulfilment.shipped": -1,       # S1: the store shipped it
    "fulfilment.picked_up": -1,     # S1: the customer picked it up at the store
    "fulfilment.rejected": 0,       # S1r: the store refused it
    "fulfilment.cancelled": 0,      # S1c: the online order was cancelled while at the store
    "pickup.expired": 0,            # not picked up in time; handed to a person
    "store_order.shipped": 0,       # S2: the warehouse shipped a store / micro-mall order
    "store_order.cancelled": 0,     # S2c: the ERP cancelled a store order, the store was told
    "store_order.returned": 0,      # S2r: the warehouse received the returned goods
    "transfer.shipped": +1,         # S5 配货: the warehouse shipped goods to the store
    "warehouse_return.received": -1,  # S6 退仓: the warehouse received what the store sent back
    "sale.completed": -1,           # a retail sale at the till
    "sale.refunded": +1,            # a retail refund (the goods come back to the store)
    "stock.counted": 0,             # 盘点: counted quantities (absolute, in ``qty``)
    "cod.collected": 0,             # 货到付款 money collected at the store
    "member.updated": 0,            # a member changed at the store (hashed identity only)
}

# The columns of a ledger row, in order: the Glue table, the DuckDB reader and the bench
# generator all take them from here. Partition columns (tenant, day) come from the path.
ROW_COLUMNS: dict[str, str] = {
    "fact_key": "string",
    "kind": "string",
    "occurred_at": "string",  # Asia/Shanghai wall time, yyyy-MM-dd HH:mm:ss (sorts as text)
    "store_code": "string",
    "doc_no": "string",      # the fact's own document: io_id, order_no, sale_no, doc_no...
    "io_id": "string",       # the JST sales outbound, when the fact is about an online order
    "so_id": "string",       # the online platform order
    "delivery": "string",    # express / pickup (S1 facts)
    "reason": "string",
    "payment": "string",     # payment method of a sale or a COD collection
    "member_hash": "string",  # hashed identity of the member / buyer
    "line_no": "int",        # 0: the fact itself; 1..n: its SKU lines
    "sku_id": "string",
    "qty": "bigint",         # the line's quantity as on the document (counted qty for stock.counted)
    "stock_delta": "bigint",  # how the line moved the store's stock (signed)
    "amount": "double",      # row 0: the fact's money; rows 1..n: the line's amount
    "cod_amount": "double",  # row 0 of shipped / picked-up COD orders: the money to collect
    # When the fact was handed to the ledger (UTC, yyyy-MM-dd HH:mm:ss.SSS, sorts as text): the
    # ledger queue's SentTimestamp of its message, set by the ledger writer. A fact key sent twice
    # (a replayed step) is read once, the version recorded first (``deduplicated_ledger_sql``).
    "recorded_at": "string",
}
ROW_COLUMN_TYPES_DUCKDB = {"string": "VARCHAR", "int": "INTEGER", "bigint": "BIGINT", "double": "DOUBLE"}


class LedgerError(ValueError):
    """A fact that cannot be written (a programming error in the flow that built it)."""


@dataclass(frozen=True)
class FactLine:
    sku_id: str
    qty: int
    amount: Decimal | None = None


@dataclass(frozen=True)
class Fact:
    ent_id: str
    kind: str
    key: str                 # unique within the tenant: the same step replayed has the same key
    at: datetime             # the business time (aware): decides the day partition
    store_code: str | None = None
    doc_no: str | None = None
    io_id: str | None = None
    so_id: str | None = None
    delivery: str | None = None
    reason: str | None = None
    payment: str | None = None
    member_hash: str | None = None
    amount: Decimal | None = None
    cod_amount: Decimal | None = None
    lines: tuple[FactLine, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.kind not in FACT_KINDS:
            raise LedgerError(f"unknown ledger fact kind {self.kind!r}")
        if self.at.tzinfo is None:
            raise LedgerError(f"fact {self.key}: its time must carry an offset")
        if not self.key or "/" in self.key:
            raise LedgerError(f"fact key {self.key!r} must be non-empty and have no '/'")

    @property
    def day(self) -> str:
        return self.at.astimezone(SHANGHAI).date().isoformat()


def _money(value: Decimal | None) -> float | None:
    if value is None:
        return None
    amount = Decimal(value)
    try:
        amount = amount.quantize(Decimal("0.01"))
    except InvalidOperation:  # more digits than a cent-exact quantize allows: keep it as it came
        pass
    return float(amount)


def fact_rows(fact: Fact) -> list[dict[str, Any]]:
    """The flat rows of one fact (row 0 the fact, then a row per SKU line)."""
    sign = FACT_KINDS[fact.kind]
    head = {
        "fact_key": fact.key, "kind": fact.kind,
        "occurred_at": fact.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        "store_code": fact.store_code, "doc_no": fact.doc_no, "io_id": fact.io_id, "so_id": fact.so_id,
        "delivery": fact.delivery, "reason": fact.reason, "payment": fact.payment, "member_hash": fact.member_hash,
    }
    rows = [{**head, "line_no": 0, "sku_id": None, "qty": sum(line.qty for line in fact.lines) or None,
             "stock_delta": None, "amount": _money(fact.amount), "cod_amount": _money(fact.cod_amount)}]
    for number, line in enumerate(fact.lines, start=1):
        rows.append({**head, "line_no": number, "sku_id": line.sku_id, "qty": line.qty,
                     "stock_delta": sign * line.qty if sign else None, "amount": _money(line.amount),
                     "cod_amount": None})
    return rows


def fact_object_name(fact: Fact) -> str:
    """``tenant=E/day=YYYY-MM-DD/<kind>-<digest of the key>.jsonl``: one object per fact key."""
    digest = hashlib.sha256(f"{fact.ent_id}\n{fact.key}".encode()).hexdigest()[:32]
    return f"tenant={fact.ent_id}/day={fact.day}/{fact.kind.replace('.', '_')}-{digest}.jsonl"


def fact_body(fact: Fact) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
                   for row in fact_rows(fact)).encode("utf-8")


# --- identities ---------------------------------------------------------------------------

_NOT_DIGIT = re.compile(r"\D")


def normalise_mobile(text: str | None) -> str | None:
    """A mainland mobile number as its 11 digits: +86 / 0086 / 86 prefixes, spaces and dashes
    dropped. None when what is left is not 11 digits starting with 1 (a landline, a masked
    number such as 138****1234)."""
    if not text or "*" in text:
        return None
    digits = _NOT_DIGIT.sub("", str(text))
    for prefix in ("0086", "86"):
        if len(digits) == len(prefix) + 11 and digits.startswith(prefix):
            digits = digits[len(prefix):]
    return digits if len(digits) == 11 and digits.startswith("1") else None


def hash_identity(ent_id: str, kind: str, value: str | None, *, pepper: str | None = None) -> str | None:
    """A stable, keyed fingerprint of a person's identifier (a mobile number...), per tenant.

    HMAC-SHA256 keyed with the tenant and the deployment's pepper (``O2O_IDENTITY_PEPPER``), so
    the same person has the same hash in every fact of the tenant, and a leaked ledger does not
    give the numbers back by hashing every possible mobile number without the pepper."""
    if not value:
        return None
    key = f"{pepper if pepper is not None else os.environ.get('O2O_IDENTITY_PEPPER', '')}\n{ent_id}".encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def mobile_hash(ent_id: str, mobile: str | None) -> str | None:
    return hash_identity(ent_id, "mobile", normalise_mobile(mobile))


def lines_of(items: Iterable[Any], *, qty: str = "qty", amount: str | None = "amount") -> tuple[FactLine, ...]:
    """FactLines from model items or dicts with ``sku_id``, ``qty`` and (optionally) an amount."""
    def get(item: Any, name: str) -> Any:
        return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)

    return tuple(FactLine(str(get(item, "sku_id")), int(get(item, qty)),
                          Decimal(str(get(item, amount))) if amount and get(item, amount) is not None else None)
                 for item in items)


class MemoryLedger:
    """A ledger in memory (unit tests, benches, a FlowContext built by hand): the same
    once-per-key rule as the stored ones; ``facts`` in the order they were appended."""

    def __init__(self) -> None:
        self.facts: list[Fact] = []
        self._keys: set[tuple[str, str]] = set()

    def append(self, fact: Fact) -> bool:
        if (fact.ent_id, fact.key) in self._keys:
            return False
        self._keys.add((fact.ent_id, fact.key))
        self.facts.append(fact)
        return True

    def of_kind(self, kind: str) -> list[Fact]:
        return [fact for fact in self.facts if fact.kind == kind]


# --- compaction -----------------------------------------------------------------------------
#
# The functions write one small object per fact; a report over months would open hundreds of
# thousands of them (slow and, in Athena, billed per request). Once a day is closed, the day's
# objects of one tenant are merged into one JSON Lines object in the same folder (the Glue table
# and DuckDB read both forms) and the merged objects are deleted. In S3 it is gzip,
# ``compacted.jsonl.gz`` (Athena bills the bytes it scans, and reads gzip by name: about 14 times
# fewer); in the local stack's files it is plain, ``compacted.jsonl`` (DuckDB reads plain JSON
# Lines in parallel, gzip one file at a time). Readers deduplicate identical rows of a day that
# holds both forms (the Athena reports' DISTINCT, the DuckDB view), so a fact present in both for
# a moment - between the merged object's write and the small objects' deletion, or a replay that
# appends an already-compacted fact again - counts once; and since the merged object is written
# before anything is deleted, no reader misses a row. A later compaction folds such stragglers in.

COMPACTED_GZIP = "compacted.jsonl.gz"   # S3
COMPACTED_PLAIN = "compacted.jsonl"     # local files


def is_compacted_object(name: str) -> bool:
    return name.rsplit("/", 1)[-1] in (COMPACTED_GZIP, COMPACTED_PLAIN)


def day_folder(ent_id: str, day: str) -> str:
    """``tenant=E/day=YYYY-MM-DD/``: where a tenant's facts of one Shanghai day are stored."""
    return f"tenant={ent_id}/day={day}/"


def is_fact_object(name: str) -> bool:
    """A single fact's object (not the compacted one, not a writer's hidden temporary file)."""
    base = name.rsplit("/", 1)[-1]
    return base.endswith(".jsonl") and not base.startswith(".") and not is_compacted_object(base)


def day_is_closed(day: str, now: datetime) -> bool:
    """A Shanghai business day is closed once the next one has begun: its facts are in."""
    return day < now.astimezone(SHANGHAI).date().isoformat()


def closed_days(now: datetime, lookback_days: int) -> list[str]:
    """The ``lookback_days`` closed days before today (Shanghai), oldest first."""
    from datetime import timedelta

    today = now.astimezone(SHANGHAI).date()
    return [(today - timedelta(days=n)).isoformat() for n in range(lookback_days, 0, -1)]


def merge_rows(bodies: Iterable[bytes]) -> list[dict[str, Any]]:
    """The rows of JSON Lines ``bodies`` (gzip or plain), each fact once: of the versions of one
    fact key (a replayed step sent again lands in another batch object), the one recorded first
    (``recorded_at``; a fact without it - a single-fact object - before any with it), and of
    versions recorded at the same moment (one message in the compacted object and in its batch
    object) the one of the first body, so the compacted object read first keeps its rows."""
    import gzip

    versions: dict[str, dict[tuple[str, int], list[dict[str, Any]]]] = {}
    for number, body in enumerate(bodies):
        text = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
        for line in text.decode("utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            versions.setdefault(row["fact_key"], {}).setdefault((row.get("recorded_at") or "", number), []).append(row)
    rows: list[dict[str, Any]] = []
    for of_fact in versions.values():
        seen: set[int] = set()
        for row in of_fact[min(of_fact)]:
            if int(row["line_no"]) not in seen:
                seen.add(int(row["line_no"]))
                rows.append(row)
    rows.sort(key=lambda r: (r.get("occurred_at") or "", r["fact_key"], int(r["line_no"])))
    return rows


def deduplicated_ledger_sql(table: str) -> str:
    """A query over ``table`` (the ledger's rows, with ``tenant`` and ``day``) that reads each fact
    once: of the versions of a fact key in a tenant's day (a replayed step sent again, a batch
    object and the compacted object holding the same fact), the one recorded first, each of its
    rows once. Plain SQL that Athena (Trino) and DuckDB both run; the window is partitioned by the
    partition columns, so a report's tenant and days still prune what is read."""
    columns = ", ".join([*ROW_COLUMNS, "tenant", "day"])
    return (f"SELECT DISTINCT {columns} FROM (SELECT *, rank() OVER (PARTITION BY tenant, day, fact_key "
            f"ORDER BY COALESCE(recorded_at, '')) AS fact_version FROM {table}) AS versions WHERE fact_version = 1")


def compacted_body(rows: Iterable[Mapping[str, Any]], *, gzip: bool) -> bytes:
    """One JSON Lines object, gzip or plain (the same bytes for the same rows: no timestamp in
    the gzip header)."""
    import gzip as gz

    text = "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows).encode("utf-8")
    return gz.compress(text, compresslevel=6, mtime=0) if gzip else text


@dataclass(frozen=True)
class Compaction:
    """What compacting one tenant's day did."""

    ent_id: str
    day: str
    merged_objects: int     # single-fact objects folded in (and deleted)
    rows: int               # rows in the compacted object now
    bytes_before: int       # the objects read (compacted one included)
    bytes_after: int        # the compacted object written

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


class CompactedMeanwhile(TransientError):
    """Another compaction of the same day wrote its object first: nothing was deleted; run again."""


# --- the ledger queue and its batch objects -------------------------------------------------------
#
# A flow does not write its fact to S3 itself (a PUT, $5 per million, for every fact): it sends
# the fact's rows to the ledger queue (SendMessage, $0.40 per million), and the ledger writer
# (functions/ledger_writer) takes up to thousands of them at once and writes one JSON Lines object
# per tenant and day of the batch. The object is named after its contents (a digest of its
# bytes) and written with ``If-None-Match: *``: a batch delivered again writes the same object,
# or finds it there, and nothing twice. A fact sent twice (a replayed step) may still land in two
# objects, in two batches: every reader keeps one version of a fact key, the first recorded
# (``recorded_at``, the message's SentTimestamp), and compaction keeps only that one.

MESSAGE_VERSION = 1
MAX_MESSAGE_BYTES = 250_000          # SQS takes 256 KiB; a fact with very many lines goes gzip'd
_TENANT = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PoisonedFact(LedgerError):
    """A ledger message the writer cannot take (not a fact, or one that contradicts itself):
    parked with this reason, never retried as it is."""


def fact_message(fact: Fact) -> str:
    """The ledger queue's message for ``fact``: its tenant, day, key and rows (JSON)."""
    import base64
    import gzip

    body = json.dumps({"ledger": MESSAGE_VERSION, "tenant": fact.ent_id, "day": fact.day, "fact_key": fact.key,
                       "rows": fact_rows(fact)}, ensure_ascii=False, separators=(",", ":"))
    if len(body.encode("utf-8")) <= MAX_MESSAGE_BYTES:
        return body
    packed = json.dumps({"ledger": MESSAGE_VERSION, "gzip": base64.b64encode(
        gzip.compress(body.encode("utf-8"), mtime=0)).decode("ascii")})
    if len(packed) > MAX_MESSAGE_BYTES:
        raise LedgerError(f"fact {fact.key}: {len(fact.lines)} lines are too many for one ledger message "
                          f"({len(packed)} bytes gzip'd, at most {MAX_MESSAGE_BYTES})")
    return packed


def _recorded_at(sent_ms: int) -> str:
    from datetime import timezone

    moment = datetime.fromtimestamp(sent_ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


@dataclass(frozen=True)
class QueuedFact:
    """One fact as the ledger writer received it."""

    message_id: str
    ent_id: str
    day: str
    key: str
    recorded_at: str
    rows: tuple[dict[str, Any], ...]


def read_fact_message(body: str, *, message_id: str, sent_ms: int) -> QueuedFact:
    """The fact of a ledger message, checked; ``PoisonedFact`` with the reason when it is not one."""
    import base64
    import binascii
    import gzip

    try:
        message = json.loads(body)
        if isinstance(message, dict) and "gzip" in message:
            message = json.loads(gzip.decompress(base64.b64decode(message["gzip"], validate=True)))
    except (ValueError, binascii.Error, OSError, EOFError) as exc:
        raise PoisonedFact(f"not a ledger message: {type(exc).__name__}") from None
    if not isinstance(message, dict) or message.get("ledger") != MESSAGE_VERSION:
        raise PoisonedFact(f"not a ledger message of version {MESSAGE_VERSION}")
    ent_id, day, key, rows = message.get("tenant"), message.get("day"), message.get("fact_key"), message.get("rows")
    if not isinstance(ent_id, str) or not _TENANT.match(ent_id):
        raise PoisonedFact("no valid tenant")
    if not isinstance(day, str) or not _DAY.match(day):
        raise PoisonedFact(f"tenant {ent_id}: no valid day")
    if not isinstance(key, str) or not key or "/" in key:
        raise PoisonedFact(f"tenant {ent_id}: no valid fact key")
    if not isinstance(rows, list) or not rows or not all(isinstance(row, dict) for row in rows):
        raise PoisonedFact(f"tenant {ent_id} fact {key}: no rows")
    numbers = []
    for row in rows:
        unknown = set(row) - set(ROW_COLUMNS)
        if unknown:
            raise PoisonedFact(f"tenant {ent_id} fact {key}: unknown column(s) {sorted(unknown)}")
        if row.get("fact_key") != key:
            raise PoisonedFact(f"tenant {ent_id} fact {key}: a row of another fact")
        if row.get("kind") not in FACT_KINDS:
            raise PoisonedFact(f"tenant {ent_id} fact {key}: unknown kind {row.get('kind')!r}")
        if not isinstance(row.get("line_no"), int) or isinstance(row.get("line_no"), bool):
            raise PoisonedFact(f"tenant {ent_id} fact {key}: a row without its line number")
        numbers.append(row["line_no"])
    if sorted(numbers) != list(range(len(rows))):
        raise PoisonedFact(f"tenant {ent_id} fact {key}: line numbers {sorted(numbers)} are not 0..{len(rows) - 1}")
    if str(rows[0].get("occurred_at") or "")[:10] != day:
        raise PoisonedFact(f"tenant {ent_id} fact {key}: its time is not on day {day}")
    recorded = _recorded_at(sent_ms)
    return QueuedFact(message_id, ent_id, day, key, recorded,
                      tuple({**row, "recorded_at": recorded} for row in sorted(rows, key=lambda r: r["line_no"])))


@dataclass(frozen=True)
class BatchObject:
    """One tenant's facts of one day from one batch of the ledger queue, as one object."""

    ent_id: str
    day: str
    name: str                   # tenant=E/day=D/batch-<digest of body>.jsonl
    body: bytes
    message_ids: tuple[str, ...]  # every message it answers for (a duplicate in the batch too)
    facts: int


def batch_objects(facts: Iterable[QueuedFact]) -> list[BatchObject]:
    """The objects of a batch: one per tenant and day, each fact key once (the version recorded
    first), rows in a fixed order, so the same facts make the same bytes and the same name."""
    groups: dict[tuple[str, str], dict[str, QueuedFact]] = {}
    messages: dict[tuple[str, str], list[str]] = {}
    for fact in facts:
        group = groups.setdefault((fact.ent_id, fact.day), {})
        messages.setdefault((fact.ent_id, fact.day), []).append(fact.message_id)
        held = group.get(fact.key)
        if held is None or (fact.recorded_at, fact.message_id) < (held.recorded_at, held.message_id):
            group[fact.key] = fact
    objects = []
    for (ent_id, day), group in sorted(groups.items()):
        rows = [row for key in sorted(group) for row in group[key].rows]
        body = "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n"
                       for row in rows).encode("utf-8")
        name = f"{day_folder(ent_id, day)}batch-{hashlib.sha256(body).hexdigest()[:32]}.jsonl"
        objects.append(BatchObject(ent_id, day, name, body, tuple(messages[(ent_id, day)]), len(group)))
    return objects
