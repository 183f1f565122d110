"""The ledger queue: a flow's fact goes to SQS as one message (SendMessage, $0.40 per million)
instead of an S3 object of its own ($5 per million PUTs); the ledger writer
(functions/ledger_writer) stores the queue's facts a batch at a time (ledger.py, the ledger queue).

A fact sent is in the ledger: SQS keeps it (14 days; after 5 failed deliveries in LedgerDLQ)
until the writer has stored it. A step replayed sends its fact again; the readers and compaction keep a fact key's first
version, so it counts once.
"""

from __future__ import annotations

from typing import Any

from ...errors import TransientError
from ...ledger import Fact, fact_message


class SqsLedger:
    def __init__(self, client: Any, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def append(self, fact: Fact) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.send_message(QueueUrl=self.queue_url, MessageBody=fact_message(fact))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise TransientError(f"ledger message of {fact.kind} {fact.key} not sent: {code}") from None
        except BotoCoreError as exc:  # connection errors, timeouts
            raise TransientError(f"ledger message of {fact.kind} {fact.key} not sent: {type(exc).__name__}") from None
        return True
