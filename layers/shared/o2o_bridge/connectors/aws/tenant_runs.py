"""Scheduled work, one message per tenant, on a scheduled function's own SQS FIFO queue.

- MessageGroupId: the tenant's own (``tenant:<ent_id>``): FIFO delivers one message of a group
  at a time, so a tenant's runs never overlap, and a run that crashed its invocation (its
  message invisible until the visibility timeout) holds up no other tenant. How many tenants of
  one ERP app run at once is bounded elsewhere (flows/app_slots.py).
- MessageDeduplicationId: job, tenant and the scheduled time: the same firing delivered twice
  (a Scheduler or Lambda retry of the fan-out) queues each tenant's run once.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

BATCH = 10  # SendMessageBatch maximum


class SqsTenantRuns:
    def __init__(self, client: Any, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def send(self, job: str, run_id: str, runs: Sequence[tuple[str, str]]) -> None:
        """``runs``: (ent_id, group) in the order they should start."""
        entries = [{
            "Id": str(n),
            "MessageBody": json.dumps({"job": job, "ent_id": ent_id, "run_id": run_id}),
            "MessageGroupId": _safe(group),
            "MessageDeduplicationId": _safe(f"{job}:{ent_id}:{run_id}"),
        } for n, (ent_id, group) in enumerate(runs)]
        for start in range(0, len(entries), BATCH):
            answer = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries[start:start + BATCH])
            failed = answer.get("Failed") or []
            if failed:
                raise RuntimeError(f"{len(failed)} tenant run(s) of {job} were not queued: "
                                   + "; ".join(f.get("Message", f.get("Code", "?")) for f in failed))


def _safe(value: str) -> str:
    # Group and deduplication ids: ≤ 128 characters of [A-Za-z0-9!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~].
    if len(value) <= 128 and value.isascii() and all(33 <= ord(c) <= 126 for c in value):
        return value
    return hashlib.sha256(value.encode()).hexdigest()
