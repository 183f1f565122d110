"""Ledger over S3: one JSON Lines object per fact under ``ledger/tenant=E/day=YYYY-MM-DD/``.

The object is written with ``If-None-Match: *`` (an S3 conditional write), so the first
write of a fact key wins and a replay is told the fact is already there; the object name is
derived from the fact key, so even a replay that lost that answer writes the same object
(never a second one). The Glue table ``LedgerTable`` reads these objects with partition
projection on tenant and day.
"""

from __future__ import annotations

from typing import Any

from ...errors import TransientError
from ...ledger import Fact, fact_body, fact_object_name

LEDGER_PREFIX = "ledger/"
_RETRYABLE = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "RequestTimeTooSkewed",
              "ConditionalRequestConflict", "OperationAborted"}


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
            if code == "PreconditionFailed" or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412:
                return False  # written before: a replay
            if code in _RETRYABLE or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
                raise TransientError(f"ledger write of {fact.kind} {fact.key} failed: {code}") from None
            raise
        except BotoCoreError as exc:  # connection errors, timeouts
            raise TransientError(f"ledger write of {fact.kind} {fact.key} failed: {type(exc).__name__}") from None
        return True
