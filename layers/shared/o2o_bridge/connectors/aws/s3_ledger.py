"""Ledger over S3: JSON Lines objects under ``ledger/tenant=E/day=YYYY-MM-DD/``, one per batch
of the ledger queue (``batch-<digest>.jsonl``, written by the ledger writer: ``put_batch``), or
one per fact (``append``, how facts were written before the ledger queue), merged per tenant
and closed day into one gzip object, ``compacted.jsonl.gz`` (ledger.py, compaction).

A batch's object is named after its bytes and written with ``If-None-Match: *``: the same batch
delivered again finds its object there and writes nothing. A fact's own object is written with ``If-None-Match: *`` (an S3 conditional write), so the first
write of a fact key wins and a replay is told the fact is already there; the object name is
derived from the fact key, so even a replay that lost that answer writes the same object
(never a second one). The Glue table ``LedgerTable`` reads both forms with partition
projection on tenant and day.

Compaction writes the merged object conditionally too: ``If-Match`` the compacted object it
read (or ``If-None-Match: *`` when there was none), so of two compactions of one day only the
first writes and deletes; the other deletes nothing (a fact that arrived between its reads
would otherwise be deleted without having been merged).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...errors import TransientError
from ...ledger import (COMPACTED_GZIP, BatchObject, CompactedMeanwhile, Compaction, Fact, compacted_body, day_folder, fact_body,
                       fact_object_name, is_fact_object, merge_rows)

LEDGER_PREFIX = "ledger/"
_RETRYABLE = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "RequestTimeTooSkewed",
              "ConditionalRequestConflict", "OperationAborted"}
READ_THREADS = 16     # small objects are read in parallel (each GET is a round trip)
DELETE_BATCH = 1000   # DeleteObjects takes at most 1000 keys


def _precondition_failed(exc: Any) -> bool:
    return (exc.response.get("Error", {}).get("Code", "") == "PreconditionFailed"
            or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412)


class S3Ledger:
    def __init__(self, client: Any, bucket: str, *, prefix: str = LEDGER_PREFIX) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def append(self, fact: Fact) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + fact_object_name(fact), Body=fact_body(fact),
                                   ContentType="application/x-ndjson", IfNoneMatch="*")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if _precondition_failed(exc):
                return False  # written before: a replay
            if code in _RETRYABLE or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
                raise TransientError(f"ledger write of {fact.kind} {fact.key} failed: {code}") from None
            raise
        except BotoCoreError as exc:  # connection errors, timeouts
            raise TransientError(f"ledger write of {fact.kind} {fact.key} failed: {type(exc).__name__}") from None
        return True

    def put_batch(self, batch: BatchObject) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + batch.name, Body=batch.body,
                                   ContentType="application/x-ndjson", IfNoneMatch="*")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if _precondition_failed(exc):
                return False  # the same batch, written before
            if code in _RETRYABLE or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
                raise TransientError(f"ledger batch {batch.name} not written: {code}") from None
            raise
        except BotoCoreError as exc:
            raise TransientError(f"ledger batch {batch.name} not written: {type(exc).__name__}") from None
        return True

    # --- compaction ------------------------------------------------------------------------
    def _day_listing(self, ent_id: str, day: str) -> tuple[list[tuple[str, int]], dict[str, Any] | None]:
        """The day's single-fact objects (key, size), and its compacted object's listing entry."""
        loose, compacted = [], None
        for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + day_folder(ent_id, day)):
            for item in page.get("Contents", []):
                if is_fact_object(item["Key"]):
                    loose.append((item["Key"], item["Size"]))
                elif item["Key"].endswith("/" + COMPACTED_GZIP):
                    compacted = item
        return loose, compacted

    def loose_objects(self, ent_id: str, day: str) -> list[tuple[str, int]]:
        """(key, size) of the day's single-fact objects."""
        return self._day_listing(ent_id, day)[0]

    def compact_day(self, ent_id: str, day: str) -> Compaction:
        from botocore.exceptions import ClientError

        loose, listed = self._day_listing(ent_id, day)
        target = self.prefix + day_folder(ent_id, day) + COMPACTED_GZIP
        if not loose:
            return Compaction(ent_id, day, 0, 0, 0, 0)
        compacted, etag = b"", None
        if listed is not None:  # read only what the listing showed: no GET of a missing key (403 without ListBucket)
            try:
                current = self.client.get_object(Bucket=self.bucket, Key=target, IfMatch=listed["ETag"])
            except ClientError as exc:
                if _precondition_failed(exc):
                    raise CompactedMeanwhile(f"ledger day {ent_id}/{day} was compacted by another run meanwhile; "
                                             "nothing deleted, run it again") from None
                raise
            compacted, etag = current["Body"].read(), current["ETag"]
        with ThreadPoolExecutor(READ_THREADS) as pool:
            bodies = list(pool.map(lambda key: self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read(),
                                   [key for key, _ in loose]))
        rows = merge_rows([compacted, *bodies])
        body = compacted_body(rows, gzip=True)
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(Bucket=self.bucket, Key=target, Body=body, ContentType="application/gzip",
                                   **condition)
        except ClientError as exc:
            if _precondition_failed(exc) or exc.response.get("Error", {}).get("Code") == "ConditionalRequestConflict":
                raise CompactedMeanwhile(f"ledger day {ent_id}/{day} was compacted by another run meanwhile; "
                                         "nothing deleted, run it again") from None
            raise
        keys = [key for key, _ in loose]
        for start in range(0, len(keys), DELETE_BATCH):
            answer = self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": key} for key in keys[start:start + DELETE_BATCH]], "Quiet": True})
            if answer.get("Errors"):  # left in place: still read (deduplicated), merged next time
                raise TransientError(f"ledger day {ent_id}/{day}: {len(answer['Errors'])} merged object(s) not "
                                     f"deleted ({answer['Errors'][0].get('Code')}); run it again")
        return Compaction(ent_id, day, len(loose), len(rows), len(compacted) + sum(size for _, size in loose),
                          len(body))

    def tenants(self) -> list[str]:
        """Tenants with a ledger (``tenant=E/`` folders)."""
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix,
                                                                           Delimiter="/"):
            found += [p["Prefix"][len(self.prefix):].strip("/").split("=", 1)[1]
                      for p in page.get("CommonPrefixes", []) if p["Prefix"][len(self.prefix):].startswith("tenant=")]
        return found
