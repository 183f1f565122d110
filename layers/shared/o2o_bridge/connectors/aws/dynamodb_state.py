"""StateTable: single-table design with typed key prefixes.

| item | pk | sk | notes |
|---|---|---|---|
| tenant config | TENANT#<ent_id> | CONFIG | JSON document; gsi1pk TENANTS lists tenants |
| document link | LINK#<ent_id>#<kind>#<key> | TO#<other_kind> | written both ways in one transaction |
| poll cursor | CURSOR#<ent_id> | <name> | value + version for optimistic advance |
| timeline entry | DOC#<ent_id>#<key> | AT#<iso time>#<seq> | expires after TIMELINE_TTL_DAYS |
| timeline alias | DOC#<ent_id>#<alias> | ALIAS | points to the document's primary key |
| flow record | REC#<ent_id>#<kind> | <key> | JSON data + version; conditional writes; optional TTL |

A document's record (an S2 order's or return's ledger) also carries, beside its data, the claim
of the effect under way on it (``claim``: owner and lease end), the marks of the effects done
and the inputs parked on it (``marks``, a string set) and the latest steps of its timeline
(``steps``): a claim is one conditional UpdateItem that returns the record, and the effect's
"done", the record's change and its timeline step are one more (``claim_record`` /
``complete_record``). ``entries`` reads those steps with the document's timeline items.

``put_joined`` writes an effect's "done" together with the bookkeeping of the effect (its records,
links and the invocation's held timeline) in one TransactWriteItems: see its docstring.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from botocore.exceptions import ClientError

from ...ports import ClaimedRecord, Cursor, DocumentLink, Record, TimelineEntry, TogetherWrite
from .held import held_timelines, timeline_held

TIMELINE_TTL_DAYS = 180
BATCH_GET_MAX = 100  # keys in one BatchGetItem
TRANSACTION_MAX = 100  # items in one TransactWriteItems
HELD_ENTRIES_MAX = 25  # timeline entries of one document held in memory before they are written
# Documents whose entries are held at once: a poll that handles thousands of outbounds in one
# invocation writes the oldest document's entries when another would pass this, so what it holds
# stays flat (a document's steps are recorded together, long before 200 others follow it).
HELD_DOCUMENTS_MAX = 200


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


# The writes ``put_joined`` holds while its bookkeeping runs (per thread: the local stack answers
# several callbacks in one process): {"store": the store holding, "items": transaction items}.
_joining = threading.local()


def _batch_get(client: Any, table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items of one BatchGetItem of ``keys`` (at most BATCH_GET_MAX; consistent reads), keys the
    service left unprocessed (throttling) asked again with a growing pause."""
    request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
    items: list[dict[str, Any]] = []
    for attempt in range(10):
        answer = client.batch_get_item(RequestItems=request)
        items += answer.get("Responses", {}).get(table, [])
        request = answer.get("UnprocessedKeys") or {}
        if not request:
            return items
        time.sleep(min(0.05 * 2 ** attempt, 1.0))
    from ...errors import TransientError

    raise TransientError("StateTable kept some keys of a batch read unprocessed (throttled)")


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"ConditionalCheckFailedException", "TransactionCanceledException"}


class DynamoStateStore:
    """Tenants, links, cursors and the timeline in StateTable (one boto3 client, reused)."""

    # Lookups are cached whether they find a tenant or not: a public edge then costs a stranger's
    # entId what it costs a merchant's (one read per cache period), so its time names no merchant.
    # Bounded, so a flood of invented entIds cannot grow a container's memory.
    TENANT_CACHE_ENTRIES = 4096

    def __init__(self, client: Any, table_name: str, *, tenant_cache_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.table = table_name
        self._tenant_cache: dict[str, tuple[float, Any]] = {}
        self._tenant_cache_seconds = tenant_cache_seconds
        self._clock = clock

    # --- tenants -------------------------------------------------------------------
    def get(self, ent_id: str):
        from ...tenant import Tenant

        cached = self._tenant_cache.get(ent_id)
        if cached and self._clock() - cached[0] < self._tenant_cache_seconds:
            return cached[1]
        item = self.client.get_item(
            TableName=self.table, Key={"pk": _s(f"TENANT#{ent_id}"), "sk": _s("CONFIG")}, ConsistentRead=True
        ).get("Item")
        tenant = Tenant.model_validate(json.loads(item["config"]["S"])) if item else None
        self._remember_tenant(ent_id, tenant)
        return tenant

    def _remember_tenant(self, ent_id: str, tenant: Any) -> None:
        self._tenant_cache.pop(ent_id, None)
        while len(self._tenant_cache) >= self.TENANT_CACHE_ENTRIES:
            del self._tenant_cache[next(iter(self._tenant_cache))]  # the oldest entry
        self._tenant_cache[ent_id] = (self._clock(), tenant)

    def get_with_records(self, ent_id: str, wanted: list[tuple[str, str]]):
        """The tenant (as ``get``) and, when it is not cached, these ``(kind, key)`` records of it in
        the same BatchGetItem (consistent reads, at most BATCH_GET_MAX - 1 records): a piece of work
        that knows what it will read before its tenant is known (a queued stock flush) pays one
        request for both. ``(tenant, the records found)``, or ``(tenant, None)`` when the tenant
        came from the cache (nothing read: the work reads its records itself)."""
        from ...tenant import Tenant

        cached = self._tenant_cache.get(ent_id)
        wanted = list(dict.fromkeys(wanted))[:BATCH_GET_MAX - 1]
        if (cached and self._clock() - cached[0] < self._tenant_cache_seconds) or not wanted:
            return self.get(ent_id), None
        tenant_key = {"pk": _s(f"TENANT#{ent_id}"), "sk": _s("CONFIG")}
        kinds = {f"REC#{ent_id}#{kind}": kind for kind, _ in wanted}
        keys = [tenant_key, *({"pk": _s(f"REC#{ent_id}#{kind}"), "sk": _s(key)} for kind, key in wanted)]
        config: dict[str, Any] | None = None
        found: dict[tuple[str, str], Record] = {}
        for item in _batch_get(self.client, self.table, keys):
            if item["pk"]["S"] == tenant_key["pk"]["S"]:
                config = item
            else:
                kind = kinds[item["pk"]["S"]]
                found[(kind, item["sk"]["S"])] = _record(ent_id, kind, item)
        tenant = Tenant.model_validate(json.loads(config["config"]["S"])) if config else None
        self._remember_tenant(ent_id, tenant)
        return tenant, found

    def put(self, tenant) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": _s(f"TENANT#{tenant.ent_id}"),
                "sk": _s("CONFIG"),
                "gsi1pk": _s("TENANTS"),
                "gsi1sk": _s(tenant.ent_id),
                "config": _s(json.dumps(tenant.to_storage(), ensure_ascii=False)),
                "updated_at": _s(_now_iso()),
            },
        )
        self._tenant_cache.pop(tenant.ent_id, None)

    def list_ids(self) -> list[str]:
        ids: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": _s("TENANTS")},
        }
        while True:
            page = self.client.query(**kwargs)
            ids.extend(item["gsi1sk"]["S"] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return ids
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # --- links ---------------------------------------------------------------------
    def link(self, link: DocumentLink) -> DocumentLink:
        def put(kind: str, key: str, other_kind: str, other_key: str) -> dict[str, Any]:
            return {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        "pk": _s(f"LINK#{link.ent_id}#{kind}#{key}"),
                        "sk": _s(f"TO#{other_kind}"),
                        "other_key": _s(other_key),
                        "data": _s(json.dumps(link.data, ensure_ascii=False, default=str)),
                        "created_at": _s(_now_iso()),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }

        both = [put(link.kind, link.key, link.other_kind, link.other_key),
                put(link.other_kind, link.other_key, link.kind, link.key)]
        held = self._held_writes()
        if held is not None:  # written with the put that ends the joined block (put_joined)
            held.extend(both)
            return link
        try:
            self.client.transact_write_items(TransactItems=both)
            return link
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
        existing = self.find(link.ent_id, link.kind, link.key, link.other_kind)
        if existing is None:  # only the reverse direction existed: a conflicting earlier link
            reverse = self.find(link.ent_id, link.other_kind, link.other_key, link.kind)
            raise ValueError(f"{link.other_kind} {link.other_key} is already linked to {link.kind} {reverse.other_key if reverse else '?'}")
        return existing

    def find(self, ent_id: str, kind: str, key: str, other_kind: str) -> DocumentLink | None:
        item = self.client.get_item(
            TableName=self.table,
            Key={"pk": _s(f"LINK#{ent_id}#{kind}#{key}"), "sk": _s(f"TO#{other_kind}")},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return DocumentLink(ent_id, kind, key, other_kind, item["other_key"]["S"], json.loads(item["data"]["S"]))

    # --- cursors -------------------------------------------------------------------
    def get_cursor(self, ent_id: str, name: str) -> Cursor | None:
        item = self.client.get_item(
            TableName=self.table, Key={"pk": _s(f"CURSOR#{ent_id}"), "sk": _s(name)}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return Cursor(
            ent_id, name, item["value"]["S"], int(item["version"]["N"]), datetime.fromisoformat(item["updated_at"]["S"])
        )

    def advance_cursor(self, ent_id: str, name: str, value: str, expected_version: int | None) -> bool:
        condition = "attribute_not_exists(pk)" if expected_version is None else "version = :expected"
        values: dict[str, Any] = {":value": _s(value), ":at": _s(_now_iso()), ":one": {"N": "1"}}
        if expected_version is not None:
            values[":expected"] = {"N": str(expected_version)}
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": _s(f"CURSOR#{ent_id}"), "sk": _s(name)},
                UpdateExpression="SET #v = :value, updated_at = :at ADD version :one",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#v": "value"},
                ExpressionAttributeValues=values,
            )
            return True
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise

    # --- flow records --------------------------------------------------------------
    def get_record(self, ent_id: str, kind: str, key: str) -> Record | None:
        item = self.client.get_item(
            TableName=self.table, Key={"pk": _s(f"REC#{ent_id}#{kind}"), "sk": _s(key)}, ConsistentRead=True
        ).get("Item")
        return _record(ent_id, kind, item) if item else None

    def put_record(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *,
                   expected_version: int | None = None, ttl_days: int | None = None) -> Record | None:
        return self.put_record_or_current(ent_id, kind, key, data, expected_version=expected_version,
                                          ttl_days=ttl_days, want_current=False)[0]

    def put_record_or_current(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *,
                              expected_version: int | None = None, ttl_days: int | None = None,
                              want_current: bool = True) -> tuple[Record | None, Record | None]:
        """The conditional put; a refused one returns the stored item with the refusal
        (ReturnValuesOnConditionCheckFailure), so the caller decides without reading."""
        kwargs = self._record_put(ent_id, kind, key, data, expected_version, ttl_days)
        version, at = int(kwargs["Item"]["version"]["N"]), kwargs["Item"]["updated_at"]["S"]
        held = self._held_writes()
        if held is not None:  # written with the put that ends the joined block (put_joined)
            held.append({"Put": kwargs})
            return Record(ent_id, kind, key, data, version, datetime.fromisoformat(at)), None
        if want_current:
            kwargs["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            self.client.put_item(**kwargs)
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            if not want_current:
                return None, None
            current = exc.response.get("Item")
            return None, _record(ent_id, kind, current) if current else None
        return Record(ent_id, kind, key, data, version, datetime.fromisoformat(at)), None

    def _record_put(self, ent_id: str, kind: str, key: str, data: dict[str, Any], expected_version: int | None,
                    ttl_days: int | None) -> dict[str, Any]:
        """The PutItem request of a versioned record: the next version, only over the expected one."""
        item: dict[str, Any] = {
            "pk": _s(f"REC#{ent_id}#{kind}"),
            "sk": _s(key),
            "data": _s(json.dumps(data, ensure_ascii=False, default=str)),
            "version": {"N": str(1 if expected_version is None else expected_version + 1)},
            "updated_at": _s(_now_iso()),
        }
        if ttl_days:
            item["expires_at"] = {"N": str(int(time.time()) + ttl_days * 86400)}
        request: dict[str, Any] = {"TableName": self.table, "Item": item}
        if expected_version is None:
            request["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            request["ConditionExpression"] = "version = :expected"
            request["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        return request

    def update_record(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *, rank: int | None,
                      unranked_version: int | None = None,
                      ttl_days: int | None = None) -> tuple[Record | None, Record | None]:
        """Write ``data`` as the next version (UpdateItem, ADD version): unconditionally when ``rank``
        is None, else only where the stored ``rank`` attribute is lower or the record is absent. A
        refused write returns the stored item with the refusal."""
        at = _now_iso()
        values: dict[str, Any] = {":data": _s(json.dumps(data, ensure_ascii=False, default=str)), ":at": _s(at),
                                  ":one": {"N": "1"}}
        sets = ["#data = :data", "updated_at = :at"]
        names = {"#data": "data"}
        if ttl_days:
            values[":expires"] = {"N": str(int(time.time()) + ttl_days * 86400)}
            sets.append("expires_at = :expires")
        request: dict[str, Any] = {"TableName": self.table, "Key": {"pk": _s(f"REC#{ent_id}#{kind}"), "sk": _s(key)},
                                   "ReturnValues": "ALL_NEW"}
        if rank is not None:
            names["#rank"] = "rank"
            values[":rank"] = {"N": str(rank)}
            sets.append("#rank = :rank")
            request["ConditionExpression"] = "attribute_not_exists(pk) OR #rank < :rank"
            if unranked_version is not None:
                request["ConditionExpression"] += " OR (attribute_not_exists(#rank) AND version = :unranked)"
                values[":unranked"] = {"N": str(unranked_version)}
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        request.update(UpdateExpression=f"SET {', '.join(sets)} ADD version :one", ExpressionAttributeNames=names,
                       ExpressionAttributeValues=values)
        try:
            written = self.client.update_item(**request)["Attributes"]
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            current = exc.response.get("Item")
            return None, _record(ent_id, kind, current) if current else None
        return _record(ent_id, kind, written), None

    def get_records(self, ent_id: str, kind: str, keys: list[str]) -> dict[str, Record]:
        """The records of ``keys`` (one kind) that exist, read in batches."""
        return {key: record for (_, key), record in self.get_records_of(ent_id, [(kind, k) for k in keys]).items()}

    def get_records_of(self, ent_id: str, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], Record]:
        """BatchGetItem of ``(kind, key)`` records, 100 a request (consistent reads); keys the
        service left unprocessed (throttling) are asked again."""
        found: dict[tuple[str, str], Record] = {}
        unique = list(dict.fromkeys(wanted))
        kinds = {f"REC#{ent_id}#{kind}": kind for kind, _ in unique}
        for start in range(0, len(unique), BATCH_GET_MAX):
            keys = [{"pk": _s(f"REC#{ent_id}#{kind}"), "sk": _s(k)} for kind, k in unique[start:start + BATCH_GET_MAX]]
            for item in _batch_get(self.client, self.table, keys):
                kind = kinds[item["pk"]["S"]]
                found[(kind, item["sk"]["S"])] = _record(ent_id, kind, item)
        return found

    def put_records(self, ent_id: str, kind: str, writes: list[tuple[str, dict[str, Any], int | None]], *,
                    ttl_days: int | None = None) -> list[str]:
        """The versioned puts of ``put_record``, 100 to a TransactWriteItems: a group whose
        condition fails anywhere is written nowhere, and its keys are returned."""
        refused: list[str] = []
        for start in range(0, len(writes), TRANSACTION_MAX):
            group = writes[start:start + TRANSACTION_MAX]
            if len(group) == 1:
                key, data, expected = group[0]
                if self.put_record(ent_id, kind, key, data, expected_version=expected, ttl_days=ttl_days) is None:
                    refused.append(key)
                continue
            items = []
            for key, data, expected in group:
                put = self._record_put(ent_id, kind, key, data, expected, ttl_days)
                items.append({"Put": put})
            try:
                self.client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise
                refused.extend(key for key, _, _ in group)
        return refused

    # --- a document's record with its effects' claim and marks (kit.claim_document) --------
    def claim_record(self, ent_id: str, kind: str, key: str, *, owner: str, until: float, now: float,
                     unless: tuple[str, ...] = (), ttl_days: int | None = None) -> tuple[bool, ClaimedRecord | None]:
        """The claim: SET claim if it is free or its lease ended and none of ``unless`` is marked;
        the record comes back either way (ALL_NEW, or ALL_OLD with the refusal): no read first."""
        values: dict[str, Any] = {":claim": {"M": {"owner": _s(owner), "until": {"N": repr(until)}}},
                                  ":now": {"N": repr(now)}, ":empty": _s("{}"), ":zero": {"N": "0"},
                                  ":at": _s(_now_iso())}
        condition = "(attribute_not_exists(#claim) OR #claim.#until < :now)"
        for index, mark in enumerate(unless):
            values[f":u{index}"] = _s(mark)
            condition += f" AND NOT contains(marks, :u{index})"
        sets = ["#claim = :claim", "#data = if_not_exists(#data, :empty)", "version = if_not_exists(version, :zero)",
                "updated_at = if_not_exists(updated_at, :at)"]
        if ttl_days:
            values[":expires"] = {"N": str(int(time.time()) + ttl_days * 86400)}
            sets.append("expires_at = if_not_exists(expires_at, :expires)")
        return self._update_claimed(ent_id, kind, key, UpdateExpression="SET " + ", ".join(sets),
                                    ConditionExpression=condition,
                                    ExpressionAttributeNames={"#claim": "claim", "#until": "until", "#data": "data"},
                                    ExpressionAttributeValues=values)

    def complete_record(self, ent_id: str, kind: str, key: str, *, owner: str, data: dict[str, Any],
                        expected_version: int, marks: frozenset[str],
                        steps: tuple[dict[str, Any], ...] | None = None,
                        ttl_days: int | None = None,
                        writes: Callable[[], Any] | None = None) -> tuple[bool, ClaimedRecord | None]:
        """The "done": the data, marks and steps written and the claim freed in one UpdateItem, only
        if ``owner`` still holds the claim and the version is the one read.

        ``writes()`` (the effect's bookkeeping): its record puts and links are held while it runs,
        as ``put_joined`` holds them, and written with the "done" in one TransactWriteItems, all or
        none. Refused (the claim no longer this owner's, a held write's condition, more than 100
        items), nothing of it is written: ``writes()`` runs again with every write sent at once and
        answered by what is stored, and then the "done" alone, whose answer says what is stored."""
        update = self._complete_update(owner=owner, data=data, expected_version=expected_version, marks=marks,
                                       steps=steps, ttl_days=ttl_days)
        if writes is not None:
            if self._held_writes() is not None or getattr(_joining, "store", None) is not None:
                writes()  # nested in a joined block: the outer block joins
            elif self._complete_joined(ent_id, kind, key, update, writes):
                return True, ClaimedRecord(json.loads(json.dumps(data, default=str)), expected_version + 1, None, None,
                                           frozenset(marks), tuple(steps or ()))
        return self._update_claimed(ent_id, kind, key, **update)

    def _complete_joined(self, ent_id: str, kind: str, key: str, update: dict[str, Any],
                         writes: Callable[[], Any]) -> bool:
        """``writes()`` held and the "done" ``update``, in one transaction; False when refused, after
        ``writes()`` ran again one write at a time (the caller then writes the "done" alone)."""
        _joining.store, _joining.items = self, []
        try:
            writes()
            items = _joining.items
        finally:
            _joining.store, _joining.items = None, []
        request = [*items, {"Update": {"TableName": self.table, "Key": {"pk": _s(f"REC#{ent_id}#{kind}"), "sk": _s(key)},
                                       **update}}]
        if len(request) <= TRANSACTION_MAX:
            try:
                self.client.transact_write_items(TransactItems=request)
                return True
            except ClientError as exc:
                if not _conditional_failed(exc) and exc.response.get("Error", {}).get("Code") != "ValidationException":
                    raise
        writes()  # one by one, as without joining
        return False

    def _complete_update(self, *, owner: str, data: dict[str, Any], expected_version: int, marks: frozenset[str],
                         steps: tuple[dict[str, Any], ...] | None, ttl_days: int | None) -> dict[str, Any]:
        """The UpdateItem of a "done": data, version, marks and steps set, the claim removed."""
        values: dict[str, Any] = {":data": _s(json.dumps(data, ensure_ascii=False, default=str)),
                                  ":next": {"N": str(expected_version + 1)}, ":expected": {"N": str(expected_version)},
                                  ":owner": _s(owner), ":at": _s(_now_iso())}
        sets = ["#data = :data", "version = :next", "updated_at = :at"]
        removes = ["#claim"]
        if marks:
            values[":marks"] = {"SS": sorted(marks)}
            sets.append("marks = :marks")
        else:
            removes.append("marks")
        if steps is not None:
            values[":steps"] = _s(json.dumps(list(steps), ensure_ascii=False, default=str))
            sets.append("steps = :steps")
        if ttl_days:
            values[":expires"] = {"N": str(int(time.time()) + ttl_days * 86400)}
            sets.append("expires_at = :expires")
        return {"UpdateExpression": f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
                "ConditionExpression": "#claim.#owner = :owner AND version = :expected",
                "ExpressionAttributeNames": {"#claim": "claim", "#owner": "owner", "#data": "data"},
                "ExpressionAttributeValues": values}

    def complete_records_together(self, ent_id: str, writes: list[dict[str, Any]]) -> bool:
        """``complete_record`` of each of ``writes`` in one TransactWriteItems, all or none: False
        (nothing written) when a condition fails or another transaction was on the same items."""
        if not writes or len(writes) > TRANSACTION_MAX:
            return False
        updates = [{"TableName": self.table, "Key": {"pk": _s(f"REC#{ent_id}#{write['kind']}"), "sk": _s(write["key"])},
                    **self._complete_update(owner=write["owner"], data=write["data"],
                                            expected_version=write["expected_version"],
                                            marks=frozenset(write["marks"]), steps=write.get("steps"),
                                            ttl_days=write.get("ttl_days"))}
                   for write in writes]
        try:
            self.client.transact_write_items(TransactItems=[{"Update": update} for update in updates])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("TransactionCanceledException", "ValidationException"):
                return False
            raise
        return True

    def _update_claimed(self, ent_id: str, kind: str, key: str, **update: Any) -> tuple[bool, ClaimedRecord | None]:
        """One conditional UpdateItem of a document's record: ``(True, the record now)``, or
        ``(False, the record stored now)`` from the refusal itself (no read)."""
        try:
            item = self.client.update_item(TableName=self.table, Key={"pk": _s(f"REC#{ent_id}#{kind}"), "sk": _s(key)},
                                           ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD",
                                           **update)["Attributes"]
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            current = exc.response.get("Item")
            return False, _claimed(current) if current else None
        return True, _claimed(item)

    def release_record(self, ent_id: str, kind: str, key: str, *, owner: str,
                       marks: frozenset[str] | None = None, created: bool = False) -> bool:
        """Free ``owner``'s claim (setting ``marks`` when given); a record the claim created goes."""
        request: dict[str, Any] = {"TableName": self.table, "Key": {"pk": _s(f"REC#{ent_id}#{kind}"), "sk": _s(key)},
                                   "ConditionExpression": "#claim.#owner = :owner",
                                   "ExpressionAttributeNames": {"#claim": "claim", "#owner": "owner"},
                                   "ExpressionAttributeValues": {":owner": _s(owner)}}
        if created and not marks:
            gone = {**request, "ConditionExpression": request["ConditionExpression"] + " AND version = :zero",
                    "ExpressionAttributeValues": {**request["ExpressionAttributeValues"], ":zero": {"N": "0"}}}
            try:
                self.client.delete_item(**gone)
                return True
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise
            # another flow wrote the record meanwhile: only the claim goes
        try:
            if marks:
                request["ExpressionAttributeValues"][":marks"] = {"SS": sorted(marks)}
                self.client.update_item(UpdateExpression="SET marks = :marks REMOVE #claim", **request)
            else:
                self.client.update_item(UpdateExpression="REMOVE #claim", **request)
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def replace_record(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *,
                       expected_version: int | None = None, ttl_days: int | None = None) -> Record | None:
        """The conditional put as an UpdateItem: the item's other attributes (claim, marks, steps) stay."""
        at = _now_iso()
        version = 1 if expected_version is None else expected_version + 1
        values: dict[str, Any] = {":data": _s(json.dumps(data, ensure_ascii=False, default=str)), ":at": _s(at),
                                  ":next": {"N": str(version)}}
        sets = ["#data = :data", "version = :next", "updated_at = :at"]
        if ttl_days:
            values[":expires"] = {"N": str(int(time.time()) + ttl_days * 86400)}
            sets.append("expires_at = :expires")
        if expected_version is None:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "version = :expected"
            values[":expected"] = {"N": str(expected_version)}
        try:
            self.client.update_item(TableName=self.table, Key={"pk": _s(f"REC#{ent_id}#{kind}"), "sk": _s(key)},
                                    UpdateExpression="SET " + ", ".join(sets), ConditionExpression=condition,
                                    ExpressionAttributeNames={"#data": "data"}, ExpressionAttributeValues=values)
        except ClientError as exc:
            if _conditional_failed(exc):
                return None
            raise
        return Record(ent_id, kind, key, data, version, datetime.fromisoformat(at))

    def put_records_traced(self, ent_id: str, kind: str, writes: list[tuple[str, dict[str, Any], int | None]], *,
                           trace_key: str, ttl_days: int | None = None) -> list[str]:
        """``put_records``, with the timeline entries of ``trace_key`` held in this invocation
        (held.py) as one more item of the last transaction: a callback's trace costs no request
        of its own (two write units instead of one: a transaction's price). Written only if the
        levels are; a refused group leaves the entries held, written when the invocation ends."""
        held = held_timelines()
        documents = held.get(self) if held is not None else None
        entries, aliases = documents.get((ent_id, trace_key), ([], set())) if documents else ([], set())
        if not writes or not entries or set(aliases) - {trace_key}:
            return self.put_records(ent_id, kind, writes, ttl_days=ttl_days)
        cut = (len(writes) - 1) // (TRANSACTION_MAX - 1) * (TRANSACTION_MAX - 1)  # the last group has room
        refused = self.put_records(ent_id, kind, writes[:cut], ttl_days=ttl_days) if cut else []
        group = writes[cut:]
        items = [{"Put": self._record_put(ent_id, kind, key, data, expected, ttl_days)} for key, data, expected in group]
        items.append({"Put": {"TableName": self.table, "Item": self._timeline_item(ent_id, trace_key, entries)}})
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise
            return refused + [key for key, _, _ in group]
        documents.pop((ent_id, trace_key), None)  # type: ignore[union-attr]
        return refused

    def write_records_together(self, ent_id: str, writes: list[TogetherWrite], *,
                               trace: tuple[str, str, dict[str, Any]] | None = None,
                               traces: tuple[tuple[str, str, dict[str, Any]], ...] = ()) -> list[tuple[bool, Record | None]] | None:
        """The ``writes`` (records of any kinds, each on its own condition, see ``TogetherWrite``)
        and a timeline entry (``trace``: document key and entry) in one TransactWriteItems, all or
        none. None when written; else, per write, whether its condition failed and the record
        stored then (DynamoDB returns it with the refusal), so the caller decides without a read.
        A transaction bills two write units per item: for writes that would otherwise be a
        request each."""
        items = self.together_items(ent_id, writes, trace=trace, traces=traces)
        held = self._held_writes()
        if held is not None and writes:
            # Inside a block that holds writes (put_joined, complete_record(writes=...)) they go with
            # the block's request and are answered as written, as its puts are: should a condition
            # fail, nothing of the block is written and it runs again unjoined, answered by the table.
            held.extend(items)
            return None
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            if not any(r.get("Code") == "ConditionalCheckFailed" for r in reasons):
                from ...errors import TransientError  # a conflict with another transaction: try again later

                raise TransientError(f"StateTable transaction cancelled: {[r.get('Code') for r in reasons]}") from None
            return self.together_refusals(ent_id, writes, reasons)
        return None

    def together_refusals(self, ent_id: str, writes: list[TogetherWrite],
                          reasons: list[dict[str, Any]]) -> list[tuple[bool, Record | None]]:
        """``write_records_together``'s answer from a refused transaction's reasons (in the order of
        ``writes``): per write, whether its condition failed and the record stored then."""
        return [(reason.get("Code") == "ConditionalCheckFailed",
                 _record(ent_id, write.kind, reason["Item"]) if reason.get("Item") else None)
                for write, reason in zip(writes, reasons)]

    def together_items(self, ent_id: str, writes: list[TogetherWrite], *,
                       trace: tuple[str, str, dict[str, Any]] | None = None,
                       traces: tuple[tuple[str, str, dict[str, Any]], ...] = ()) -> list[dict[str, Any]]:
        """The TransactWriteItems items of ``write_records_together`` (the writes in order, then the
        timeline entries), also for a rate limiter that sends them with its grant (GrantRiders)."""
        items: list[dict[str, Any]] = []
        for write in writes:
            key = {"pk": _s(f"REC#{ent_id}#{write.kind}"), "sk": _s(write.key)}
            names: dict[str, str] = {"#rank": "rank"}
            values: dict[str, Any] = {}
            if write.add_marks:
                items.append({"Update": self._marks_added(key, write)})
                continue
            if write.delete:
                gone: dict[str, Any] = {"TableName": self.table, "Key": key}
                if write.expect_version:
                    if write.expected_version is None:
                        gone["ConditionExpression"] = "attribute_not_exists(pk)"
                    else:
                        gone["ConditionExpression"] = "version = :expected"
                        gone["ExpressionAttributeValues"] = {":expected": {"N": str(write.expected_version)}}
                    gone["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
                items.append({"Delete": gone})
                continue
            if write.data is None:  # a check only, or a check that raises the version (touch)
                values[":above"] = {"N": str(write.rank_above)}
                check = {"TableName": self.table, "Key": key,
                         "ConditionExpression": "attribute_exists(pk) AND #rank > :above",
                         "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
                         "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
                if write.touch:
                    values[":one"] = {"N": "1"}
                    adds, removes = _members_clauses(write, names, values)
                    _members_condition(write, check, names, values)
                    items.append({"Update": {**check, "UpdateExpression": f"ADD version :one{adds}{removes}"}})
                else:
                    items.append({"ConditionCheck": check})
                continue
            values.update({":data": _s(json.dumps(write.data, ensure_ascii=False, default=str)), ":at": _s(_now_iso()),
                           ":one": {"N": "1"}})
            names["#data"] = "data"
            sets = ["#data = :data", "updated_at = :at"]
            if write.ttl_days:
                values[":expires"] = {"N": str(int(time.time()) + write.ttl_days * 86400)}
                sets.append("expires_at = :expires")
            update: dict[str, Any] = {"TableName": self.table, "Key": key}
            if write.rank is not None:
                values[":rank"] = {"N": str(write.rank)}
                sets.append("#rank = :rank")
            else:
                names.pop("#rank")
            if write.expect_version:
                if write.expected_version is None:
                    update["ConditionExpression"] = "attribute_not_exists(pk)"
                else:
                    values[":expected"] = {"N": str(write.expected_version)}
                    update["ConditionExpression"] = "version = :expected"
                update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            elif write.rank is not None:
                values[":below"] = {"N": str(write.rank if write.rank_below is None else write.rank_below)}
                update["ConditionExpression"] = "attribute_not_exists(pk) OR #rank < :below"
                update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            adds, removes = _members_clauses(write, names, values)
            _members_condition(write, update, names, values)
            update.update(UpdateExpression=f"SET {', '.join(sets)} ADD version :one{adds}{removes}",
                          ExpressionAttributeNames=names, ExpressionAttributeValues=values)
            items.append({"Update": update})
        for document, step, detail in ((trace,) if trace is not None else ()) + tuple(traces):
            items.append({"Put": {"TableName": self.table, "Item": self._timeline_item(
                ent_id, document, [{"at": _now_iso(), "step": step, "level": "info", "detail": detail}])}})
        if len(items) > TRANSACTION_MAX:
            raise ValueError(f"{len(items)} writes do not fit one transaction ({TRANSACTION_MAX})")
        return items

    def _marks_added(self, key: dict[str, Any], write: TogetherWrite) -> dict[str, Any]:
        """The Update of ``TogetherWrite.add_marks``: the marks added, the version raised, the data
        written only where there is none; no condition, nothing read."""
        values: dict[str, Any] = {":marks": {"SS": sorted(set(write.add_marks))}, ":one": {"N": "1"},
                                  ":at": _s(_now_iso()),
                                  ":data": _s(json.dumps(write.data or {}, ensure_ascii=False, default=str))}
        sets = ["#data = if_not_exists(#data, :data)", "updated_at = :at"]
        if write.ttl_days:
            values[":expires"] = {"N": str(int(time.time()) + write.ttl_days * 86400)}
            sets.append("expires_at = :expires")
        return {"TableName": self.table, "Key": key, "ExpressionAttributeNames": {"#data": "data"},
                "UpdateExpression": f"SET {', '.join(sets)} ADD version :one, marks :marks",
                "ExpressionAttributeValues": values}

    def delete_record(self, ent_id: str, kind: str, key: str, *, expected_version: int | None = None) -> bool:
        kwargs: dict[str, Any] = {"TableName": self.table, "Key": {"pk": _s(f"REC#{ent_id}#{kind}"), "sk": _s(key)}}
        if expected_version is not None:
            kwargs["ConditionExpression"] = "version = :expected"
            kwargs["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        held = self._held_writes()
        if held is not None:  # deleted with the put that ends the joined block (put_joined)
            held.append({"Delete": kwargs})
            return True
        try:
            self.client.delete_item(**kwargs)
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def list_records(self, ent_id: str, kind: str, *, prefix: str = "") -> list[Record]:
        condition = "pk = :pk" + (" AND begins_with(sk, :prefix)" if prefix else "")
        values: dict[str, Any] = {":pk": _s(f"REC#{ent_id}#{kind}")}
        if prefix:
            values[":prefix"] = _s(prefix)
        kwargs: dict[str, Any] = {"TableName": self.table, "KeyConditionExpression": condition,
                                  "ExpressionAttributeValues": values, "ConsistentRead": True}
        records: list[Record] = []
        while True:
            page = self.client.query(**kwargs)
            records.extend(_record(ent_id, kind, item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return records
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def list_records_page(self, ent_id: str, kind: str, *, after: str = "", limit: int = 100) -> list[Record]:
        """Up to ``limit`` records with keys after ``after``: one Query (``Limit``), another only when
        DynamoDB stopped short at its 1 MB page, so fewer than ``limit`` means none follow."""
        values: dict[str, Any] = {":pk": _s(f"REC#{ent_id}#{kind}")}
        if after:
            values[":after"] = _s(after)
        kwargs: dict[str, Any] = {"TableName": self.table, "ExpressionAttributeValues": values, "ConsistentRead": True,
                                  "KeyConditionExpression": "pk = :pk" + (" AND sk > :after" if after else "")}
        records: list[Record] = []
        while len(records) < limit:
            page = self.client.query(**kwargs, Limit=limit - len(records))
            records.extend(_record(ent_id, kind, item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return records

    # --- an effect's "done" with its bookkeeping, in one request ------------------------------
    def _held_writes(self) -> list[dict[str, Any]] | None:
        return _joining.items if getattr(_joining, "store", None) is self else None

    def put_joined(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *, expected_version: int | None,
                   ttl_days: int | None, writes: Callable[[], Any]) -> tuple[Record | None, Any]:
        """``writes()`` (an effect's bookkeeping: records put, links, timeline entries), then the
        conditional put of this record, all in one TransactWriteItems: all of it or none.

        While ``writes()`` runs, its record puts (``put_record``, ``put_record_or_current``), record
        deletes (``delete_record``), transactions (``write_records_together``) and links are held and
        answered as written; the timeline entries this invocation holds (its
        steps so far, connectors/aws/held.py) go with them. Should the transaction be refused
        (this put's condition, a held write's, a document already there, more than 100 items),
        nothing of it is written: ``writes()`` runs again with every write sent at once and
        answered by what is stored, as it would without joining (a link or record already there is
        returned, a ledger is changed instead of created), and then this put alone. So the
        outcome is the same as writing one by one, in one request where nothing stood in the way.
        Other writes of ``writes()`` (UpdateItem) are not held: they are sent at once.
        ``writes()`` must therefore do the same whether it runs once or twice; reads in it see
        the table, not the held writes."""
        if self._held_writes() is not None or getattr(_joining, "store", None) is not None:
            result = writes()  # nested: the outer block joins
            return self.put_record(ent_id, kind, key, data, expected_version=expected_version, ttl_days=ttl_days), result
        with timeline_held():  # outside an invocation (the CLI) the steps are held for this block
            held = held_timelines()
            documents = held.setdefault(self, {})
            before = {doc: (list(entries), set(aliases)) for doc, (entries, aliases) in documents.items()}
            _joining.store, _joining.items = self, []
            try:
                result = writes()
                items = _joining.items
            finally:
                _joining.store, _joining.items = None, []
            final = self._record_put(ent_id, kind, key, data, expected_version, ttl_days)
            steps = [item for doc, held_doc in documents.items()
                     for item in self._timeline_items(doc[0], doc[1], held_doc[0], tuple(sorted(held_doc[1])))
                     if held_doc[0]]
            request = [*items, {"Put": final}, *({"Put": {"TableName": self.table, "Item": item}} for item in steps)]
            if len(request) <= TRANSACTION_MAX:
                try:
                    self.client.transact_write_items(TransactItems=request)
                except ClientError as exc:
                    if not _conditional_failed(exc) and exc.response.get("Error", {}).get("Code") != "ValidationException":
                        raise
                else:
                    documents.clear()  # written with the rest
                    return Record(ent_id, kind, key, data, int(final["Item"]["version"]["N"]),
                                  datetime.fromisoformat(final["Item"]["updated_at"]["S"])), result
            # One by one, as without joining: the steps the first run recorded are dropped (it runs again).
            documents.clear()
            documents.update(before)
            result = writes()
            return self.put_record(ent_id, kind, key, data, expected_version=expected_version, ttl_days=ttl_days), result

    # --- timeline ------------------------------------------------------------------
    # Keyed per tenant: two merchants may both have an SO-1, and one must never see the other's.
    def record(self, key: str, ent_id: str, step: str, detail: dict[str, Any] | None = None, *,
               level: str = "info", aliases: tuple[str, ...] = ()) -> None:
        entry = {"at": _now_iso(), "step": step, "level": level, "detail": detail or {}}
        held = held_timelines()
        if held is None:
            self._write_entries(ent_id, key, [entry], aliases)
            return
        # Held until the invocation ends (connectors/aws/held.py): one item per document then.
        documents = held.setdefault(self, {})
        if (ent_id, key) not in documents and len(documents) >= HELD_DOCUMENTS_MAX:
            (old_ent_id, old_key), oldest = next(iter(documents.items()))
            del documents[(old_ent_id, old_key)]
            self.write_held(old_ent_id, old_key, oldest)
        entries, held_aliases = documents.setdefault((ent_id, key), ([], set()))
        entries.append(entry)
        held_aliases.update(aliases)
        if len(entries) >= HELD_ENTRIES_MAX:  # a long scan holds little
            self.write_held(ent_id, key, documents.pop((ent_id, key)))

    def write_held(self, ent_id: str, key: str, held: tuple[list[dict[str, Any]], set[str]]) -> None:
        entries, aliases = held
        self._write_entries(ent_id, key, entries, tuple(sorted(aliases)))

    def _write_entries(self, ent_id: str, key: str, entries: list[dict[str, Any]], aliases: tuple[str, ...]) -> None:
        """One item for the entries of one document (its steps in order), one per alias."""
        for item in self._timeline_items(ent_id, key, entries, aliases):
            self.client.put_item(TableName=self.table, Item=item)

    def _timeline_items(self, ent_id: str, key: str, entries: list[dict[str, Any]],
                        aliases: tuple[str, ...]) -> list[dict[str, Any]]:
        expires_at = {"N": str(int(time.time()) + TIMELINE_TTL_DAYS * 86400)}
        first = entries[0]
        item = {
            "pk": _s(_doc(ent_id, key)),
            "sk": _s(f"AT#{first['at']}#{uuid.uuid4().hex[:8]}"),
            "ent_id": _s(ent_id),
            "step": _s(first["step"]),
            "level": _s(first["level"]),
            "detail": _s(json.dumps(first["detail"], ensure_ascii=False, default=str)),
            "expires_at": {"N": str(int(time.time()) + TIMELINE_TTL_DAYS * 86400)},
        }
        if len(entries) > 1:  # the later steps of the same invocation ride along in the same item
            item["more"] = _s(json.dumps(entries[1:], ensure_ascii=False, default=str))
        items = [item]
        for alias in dict.fromkeys(aliases):
            if alias != key:
                items.append({"pk": _s(_doc(ent_id, alias)), "sk": _s("ALIAS"), "target": _s(key), "expires_at": expires_at})
        return items

    def _timeline_item(self, ent_id: str, key: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
        """The one item of a document's entries (no aliases): for a transaction that carries it."""
        return self._timeline_items(ent_id, key, entries, ())[0]

    def entries(self, key: str, ent_id: str | None = None, *, kept_on: tuple[str, ...] = ()) -> list[TimelineEntry]:
        """The timeline of ``key`` at tenant ``ent_id``, with the steps its records of the kinds
        ``kept_on`` keep (``complete_record``; `o2o trace` names them). Without a tenant (the CLI's
        short form): the one tenant that has such a key, AmbiguousKey when several do."""
        if ent_id is None:
            owners = self.timeline_tenants(key, kept_on=kept_on)
            if len(owners) > 1:
                raise AmbiguousKey(key, owners)
            if not owners:
                return []
            ent_id = owners[0]
        primary = self._primary(ent_id, key)
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :at)",
            "ExpressionAttributeValues": {":pk": _s(_doc(ent_id, primary)), ":at": _s("AT#")},
        }
        entries: list[TimelineEntry] = []
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                at = datetime.fromisoformat(item["sk"]["S"].split("#")[1])
                entries.append(
                    TimelineEntry(primary, item["ent_id"]["S"], at, item["step"]["S"], json.loads(item["detail"]["S"]),
                                  item["level"]["S"])
                )
                for more in json.loads(item["more"]["S"]) if "more" in item else ():
                    entries.append(TimelineEntry(primary, item["ent_id"]["S"], datetime.fromisoformat(more["at"]),
                                                 more["step"], more["detail"], more["level"]))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if kept_on:  # the steps a document's record keeps (complete_record), in time order with the rest
            for kind in kept_on:
                item = self.client.get_item(TableName=self.table, Key={"pk": _s(f"REC#{ent_id}#{kind}"), "sk": _s(primary)},
                                            ProjectionExpression="steps", ConsistentRead=True).get("Item") or {}
                entries.extend(TimelineEntry(primary, ent_id, datetime.fromisoformat(step["at"]), step["step"],
                                             step.get("detail") or {}, step.get("level", "info"))
                               for step in (json.loads(item["steps"]["S"]) if "steps" in item else ()))
            entries.sort(key=lambda entry: entry.at)
        return entries

    def take_held(self, key: str, ent_id: str) -> list[dict[str, Any]] | None:
        """The entries of ``key`` held for the end of this invocation, handed over (to be written
        with the document's record instead); None when none are held this way or they carry aliases."""
        held = held_timelines()
        if held is None:
            return None
        documents = held.get(self, {})
        found = documents.get((ent_id, key))
        if found is None:
            return []
        if found[1]:
            return None
        del documents[(ent_id, key)]
        return found[0]

    def timeline_tenants(self, key: str, *, kept_on: tuple[str, ...] = ()) -> list[str]:
        """The tenants with a timeline (or an alias) under ``key``, or steps kept on its record of a
        kind ``kept_on``: one query per tenant."""
        owners = []
        for ent_id in self.list_ids():
            page = self.client.query(TableName=self.table, KeyConditionExpression="pk = :pk",
                                     ExpressionAttributeValues={":pk": _s(_doc(ent_id, key))}, Limit=1)
            if page.get("Items") or any(
                    "steps" in (self.client.get_item(TableName=self.table,
                                                     Key={"pk": _s(f"REC#{ent_id}#{kind}"), "sk": _s(key)},
                                                     ProjectionExpression="steps").get("Item") or {})
                    for kind in kept_on):  # a document whose steps its record keeps
                owners.append(ent_id)
        return owners

    def _primary(self, ent_id: str, key: str) -> str:
        alias = self.client.get_item(TableName=self.table, Key={"pk": _s(_doc(ent_id, key)), "sk": _s("ALIAS")}).get("Item")
        return alias["target"]["S"] if alias else key


    # --- timelines written before they were keyed by tenant ------------------------------
    def migrate_untenanted_timelines(self, *, dry_run: bool = False) -> "TimelineMigration":
        """Move timeline rows of the layout before per-tenant keys (``DOC#<key>``, one partition
        shared by every merchant with that key) under their tenant (``DOC#<ent_id>#<key>``).

        Each entry goes to the tenant its own ``ent_id`` names, so two merchants' SO-1 part;
        an alias (which names no tenant) is copied to each tenant whose entries of the target
        it finds, and dropped when none has any. Nothing newer is overwritten; a second run
        finds nothing. The old layout is never read by the bridge, so no merchant sees another's
        document before or after; this only brings the old rows back into view.
        """
        tenants = set(self.list_ids())
        entries, aliases = [], []
        kwargs: dict[str, Any] = {"TableName": self.table, "FilterExpression": "begins_with(pk, :doc)",
                                  "ExpressionAttributeValues": {":doc": _s("DOC#")}}
        while True:  # an operator's one-off: the functions themselves may not Scan
            page = self.client.scan(**kwargs)
            for item in page.get("Items", []):
                rest = item["pk"]["S"][len("DOC#"):]
                if item["sk"]["S"] == "ALIAS":
                    head, sep, _ = rest.partition("#")
                    if not (sep and head in tenants):
                        aliases.append(item)
                elif "ent_id" in item and not rest.startswith(item["ent_id"]["S"] + "#"):
                    entries.append(item)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

        owners: dict[str, set[str]] = {}
        for item in entries:
            owners.setdefault(item["pk"]["S"][len("DOC#"):], set()).add(item["ent_id"]["S"])
        report = TimelineMigration(entries=len(entries))
        for item in aliases:
            alias, target = item["pk"]["S"][len("DOC#"):], item["target"]["S"]
            found = owners.get(target) or set(self.timeline_tenants(target))
            report.aliases += len(found)
            report.dropped_aliases += 0 if found else 1
            if not dry_run:
                for ent_id in sorted(found):
                    self._put_new({**item, "pk": _s(_doc(ent_id, alias))})
                self._delete_old(item)
        if not dry_run:
            for item in entries:
                key = item["pk"]["S"][len("DOC#"):]
                self._put_new({**item, "pk": _s(_doc(item["ent_id"]["S"], key))})
                self._delete_old(item)
        return report

    def _put_new(self, item: dict[str, Any]) -> None:
        try:
            self.client.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if not _conditional_failed(exc):  # already there (an earlier, interrupted run): keep it
                raise

    def _delete_old(self, item: dict[str, Any]) -> None:
        self.client.delete_item(TableName=self.table, Key={"pk": item["pk"], "sk": item["sk"]})


@dataclass
class TimelineMigration:
    """What ``migrate_untenanted_timelines`` moved (or, on a dry run, would move)."""

    entries: int = 0
    aliases: int = 0  # alias rows written under a tenant (one old alias may serve several)
    dropped_aliases: int = 0  # old aliases whose target no tenant has any more


class AmbiguousKey(LookupError):
    """A document key several tenants use: the caller must say which tenant."""

    def __init__(self, key: str, tenants: list[str]) -> None:
        super().__init__(f"{key!r} has a timeline at {len(tenants)} tenants ({', '.join(tenants)}): say which with --tenant")
        self.key = key
        self.tenants = tenants


def _doc(ent_id: str, key: str) -> str:
    return f"DOC#{ent_id}#{key}"


def _record(ent_id: str, kind: str, item: dict[str, Any]) -> Record:
    return Record(ent_id, kind, item["sk"]["S"], json.loads(item["data"]["S"]), int(item["version"]["N"]),
                  datetime.fromisoformat(item["updated_at"]["S"]), frozenset(item.get("marks", {}).get("SS", ())),
                  frozenset(item.get("members", {}).get("SS", ())))


def _members_clauses(write: TogetherWrite, names: dict[str, str], values: dict[str, Any]) -> tuple[str, str]:
    """The ``ADD`` and ``DELETE`` parts of a write's members and, for a write of its data, the marks
    it drops (string set attributes; DynamoDB takes no empty set, so an empty change is no clause)."""
    adds = removes = ""
    if write.add_members:
        names["#members"] = "members"
        values[":add_members"] = {"SS": sorted(set(write.add_members))}
        adds = ", #members :add_members"
    dropped = []
    if write.drop_members:
        names["#members"] = "members"
        values[":drop_members"] = {"SS": sorted(set(write.drop_members))}
        dropped.append("#members :drop_members")
    if write.drop_marks and write.data is not None:
        values[":drop_marks"] = {"SS": sorted(set(write.drop_marks))}
        dropped.append("marks :drop_marks")
    if dropped:
        removes = f" DELETE {', '.join(dropped)}"
    return adds, removes


def _members_condition(write: TogetherWrite, request: dict[str, Any], names: dict[str, str],
                       values: dict[str, Any]) -> None:
    if write.members_below is None:
        return
    names["#members"] = "members"
    values[":members_below"] = {"N": str(write.members_below)}
    cap = "(attribute_not_exists(#members) OR size(#members) < :members_below)"
    request["ConditionExpression"] = f"({request['ConditionExpression']}) AND {cap}" if request.get(
        "ConditionExpression") else cap
    request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"


def _claimed(item: dict[str, Any]) -> ClaimedRecord:
    claim = item.get("claim", {}).get("M")
    return ClaimedRecord(json.loads(item["data"]["S"]) if "data" in item else {},
                         int(item["version"]["N"]) if "version" in item else 0,
                         claim["owner"]["S"] if claim else None, float(claim["until"]["N"]) if claim else None,
                         frozenset(item.get("marks", {}).get("SS", ())),
                         tuple(json.loads(item["steps"]["S"])) if "steps" in item else ())


class RecordView:
    """RecordRepository over the store, for one piece of work (a callback, a retried step, a
    tenant's scheduled run): a record it read or wrote moments ago is not read again.

    Every write is conditional on the version the flow read, so a record served from here that
    another worker changed meanwhile can only make that write fail; then the entry is dropped and
    the flow's retry reads the table. Entries are kept a few seconds (a scan's later pages read
    afresh) and only so many (a long scan holds little)."""

    def __init__(self, store: DynamoStateStore, *, remember_seconds: float = 5.0, remember_at_most: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._known: dict[tuple[str, str, str], tuple[float, Record | None]] = {}
        self._ahead: set[tuple[str, str, str]] = set()  # remember_read's: get_many_of answers them too
        self._seconds, self._at_most, self._clock = remember_seconds, remember_at_most, clock

    def _remember(self, ent_id: str, kind: str, key: str, record: Record | None) -> None:
        self._known.pop((ent_id, kind, key), None)
        self._known[(ent_id, kind, key)] = (self._clock(), record)
        while len(self._known) > self._at_most:
            self._known.pop(next(iter(self._known)))  # the oldest

    def _forget(self, ent_id: str, kind: str, key: str) -> None:
        self._known.pop((ent_id, kind, key), None)

    def get(self, ent_id: str, kind: str, key: str) -> Record | None:
        if self._fresh(ent_id, kind, key):
            return _copied(self._known[(ent_id, kind, key)][1])
        record = self.store.get_record(ent_id, kind, key)
        self._remember(ent_id, kind, key, record)
        return _copied(record)

    def put(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *,
            expected_version: int | None = None, ttl_days: int | None = None) -> Record | None:
        written = self.store.put_record(ent_id, kind, key, data, expected_version=expected_version, ttl_days=ttl_days)
        self._after_write(ent_id, kind, key, written, None)
        return written

    def put_or_current(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *,
                       expected_version: int | None = None,
                       ttl_days: int | None = None) -> tuple[Record | None, Record | None]:
        written, current = self.store.put_record_or_current(ent_id, kind, key, data, expected_version=expected_version,
                                                            ttl_days=ttl_days)
        self._after_write(ent_id, kind, key, written, current)
        return written, current

    def put_joined(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *, expected_version: int | None,
                   ttl_days: int | None = None, writes: Callable[[], Any]) -> tuple[Record | None, Any]:
        runs = []

        def run() -> Any:
            if runs:  # the joined request was refused: what the first run remembered was never written
                self._known.clear()
            runs.append(1)
            return writes()

        try:
            written, result = self.store.put_joined(ent_id, kind, key, data, expected_version=expected_version,
                                                    ttl_days=ttl_days, writes=run)
        except BaseException:
            self._known.clear()  # a block given up: what it remembered as written was held, never sent
            raise
        self._after_write(ent_id, kind, key, written, None)
        return written, result

    def put_newer(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *, rank: int,
                  unranked_version: int | None = None,
                  ttl_days: int | None = None) -> tuple[Record | None, Record | None]:
        written, current = self.store.update_record(ent_id, kind, key, data, rank=rank,
                                                    unranked_version=unranked_version, ttl_days=ttl_days)
        self._after_write(ent_id, kind, key, written, current)
        return written, current

    def put_always(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *,
                   ttl_days: int | None = None) -> Record:
        written, _ = self.store.update_record(ent_id, kind, key, data, rank=None, ttl_days=ttl_days)
        assert written is not None  # unconditional
        self._after_write(ent_id, kind, key, written, None)
        return written

    def _after_write(self, ent_id: str, kind: str, key: str, written: Record | None, current: Record | None) -> None:
        if written is not None:
            self._remember(ent_id, kind, key, _copied(written))
        elif current is not None:  # refused: what is stored now came back with the refusal
            self._remember(ent_id, kind, key, current)
        else:
            self._forget(ent_id, kind, key)

    def prefetch(self, ent_id: str, wanted: list[tuple[str, str]]) -> None:
        unknown = [(kind, key) for kind, key in dict.fromkeys(wanted) if not self._fresh(ent_id, kind, key)]
        if len(unknown) < 2:
            return  # one record is read when asked for, at the same price
        found = self.store.get_records_of(ent_id, unknown)
        for kind, key in unknown:
            self._remember(ent_id, kind, key, found.get((kind, key)))

    def remember_read(self, ent_id: str, wanted: list[tuple[str, str]],
                      found: dict[tuple[str, str], Record]) -> None:
        if len(wanted) <= self._at_most:
            for kind, key in wanted:
                self._remember(ent_id, kind, key, found.get((kind, key)))
                self._ahead.add((ent_id, kind, key))

    def _fresh(self, ent_id: str, kind: str, key: str) -> bool:
        known = self._known.get((ent_id, kind, key))
        return known is not None and self._clock() - known[0] < self._seconds

    def get_many(self, ent_id: str, kind: str, keys: list[str]) -> dict[str, Record]:
        found = self.store.get_records(ent_id, kind, keys)
        for key in keys:
            self._remember(ent_id, kind, key, found.get(key))
        return found

    def put_many(self, ent_id: str, kind: str, writes: list[tuple[str, dict[str, Any], int | None]], *,
                 ttl_days: int | None = None) -> list[str]:
        refused = self.store.put_records(ent_id, kind, writes, ttl_days=ttl_days)
        for key, _, _ in writes:
            self._forget(ent_id, kind, key)
        return refused

    def claim(self, ent_id: str, kind: str, key: str, *, owner: str, until: float, now: float,
              unless: tuple[str, ...] = (), ttl_days: int | None = None) -> tuple[bool, ClaimedRecord | None]:
        taken, state = self.store.claim_record(ent_id, kind, key, owner=owner, until=until, now=now, unless=unless,
                                               ttl_days=ttl_days)
        self._after_claim(ent_id, kind, key, state)
        return taken, state

    def complete(self, ent_id: str, kind: str, key: str, *, owner: str, data: dict[str, Any], expected_version: int,
                 marks: frozenset[str], steps: tuple[dict[str, Any], ...] | None = None,
                 ttl_days: int | None = None, writes: Callable[[], Any] | None = None) -> tuple[bool, ClaimedRecord | None]:
        run = None
        if writes is not None:
            runs = []

            def run() -> Any:
                if runs:  # the joined request was refused: what the first run remembered was never written
                    self._known.clear()
                runs.append(1)
                return writes()

        done, state = self.store.complete_record(ent_id, kind, key, owner=owner, data=data,
                                                 expected_version=expected_version, marks=marks, steps=steps,
                                                 ttl_days=ttl_days, writes=run)
        self._after_claim(ent_id, kind, key, state)
        return done, state

    def complete_together(self, ent_id: str, writes: list[dict[str, Any]]) -> bool:
        for write in writes:
            self._forget(ent_id, write["kind"], write["key"])
        return self.store.complete_records_together(ent_id, writes)

    def release(self, ent_id: str, kind: str, key: str, *, owner: str, marks: frozenset[str] | None = None,
                created: bool = False) -> bool:
        self._forget(ent_id, kind, key)
        return self.store.release_record(ent_id, kind, key, owner=owner, marks=marks, created=created)

    def replace(self, ent_id: str, kind: str, key: str, data: dict[str, Any], *,
                expected_version: int | None = None, ttl_days: int | None = None) -> Record | None:
        written = self.store.replace_record(ent_id, kind, key, data, expected_version=expected_version,
                                            ttl_days=ttl_days)
        self._after_write(ent_id, kind, key, written, None)
        return written

    def _after_claim(self, ent_id: str, kind: str, key: str, state: ClaimedRecord | None) -> None:
        """What a claim or its "done" brought back is the record as read."""
        if state is None:
            self._forget(ent_id, kind, key)
        else:
            self._remember(ent_id, kind, key, Record(ent_id, kind, key, copy.deepcopy(state.data), state.version,
                                                     datetime.now(timezone.utc)))

    def put_many_traced(self, ent_id: str, kind: str, writes: list[tuple[str, dict[str, Any], int | None]], *,
                        trace_key: str, ttl_days: int | None = None) -> list[str]:
        refused = self.store.put_records_traced(ent_id, kind, writes, trace_key=trace_key, ttl_days=ttl_days)
        for key, _, _ in writes:
            self._forget(ent_id, kind, key)
        return refused

    def get_many_of(self, ent_id: str, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], Record]:
        if wanted and all((ent_id, kind, key) in self._ahead and self._fresh(ent_id, kind, key) for kind, key in wanted):
            # read with the tenant moments ago (remember_read) and not written since: answered from here
            return {(kind, key): record for kind, key in wanted
                    if (record := _copied(self._known[(ent_id, kind, key)][1])) is not None}
        found = self.store.get_records_of(ent_id, wanted)
        if len(wanted) <= self._at_most:
            for kind, key in wanted:
                self._remember(ent_id, kind, key, found.get((kind, key)))
        return found

    def write_together(self, ent_id: str, writes: list[TogetherWrite], *,
                       trace: tuple[str, str, dict[str, Any]] | None = None,
                       traces: tuple[tuple[str, str, dict[str, Any]], ...] = ()) -> list[tuple[bool, Record | None]] | None:
        for write in writes:
            self._forget(ent_id, write.kind, write.key)
        return self.store.write_records_together(ent_id, writes, trace=trace, traces=tuple(traces))

    def delete(self, ent_id: str, kind: str, key: str, *, expected_version: int | None = None) -> bool:
        self._forget(ent_id, kind, key)
        return self.store.delete_record(ent_id, kind, key, expected_version=expected_version)

    def list(self, ent_id: str, kind: str, *, prefix: str = "") -> list[Record]:
        return self.store.list_records(ent_id, kind, prefix=prefix)

    def list_page(self, ent_id: str, kind: str, *, after: str = "", limit: int = 100) -> list[Record]:
        return self.store.list_records_page(ent_id, kind, after=after, limit=limit)


def _copied(record: Record | None) -> Record | None:
    """A record whose data its reader may change without changing what is remembered."""
    import copy

    return None if record is None else Record(record.ent_id, record.kind, record.key, copy.deepcopy(record.data),
                                              record.version, record.updated_at, record.marks, record.members)


class CursorView:
    """CursorRepository over the store (the store's method names say which item they touch)."""

    def __init__(self, store: DynamoStateStore) -> None:
        self.store = store

    def get(self, ent_id: str, name: str) -> Cursor | None:
        return self.store.get_cursor(ent_id, name)

    def advance(self, ent_id: str, name: str, value: str, expected_version: int | None) -> bool:
        return self.store.advance_cursor(ent_id, name, value, expected_version)
