"""Member merge keeps personal data out of what operators read: a member.updated event through
the real handler, its P14 to the store system failing and queued for a retry, leaves no mobile
number or name in the bridge's log lines, its printed output or the queued retry (which names
the person by the hashed identity only)."""

from __future__ import annotations

import json
import logging
import os

import boto3

from .conftest import fresh, request, send

MOBILE, NAME = "13912345678", "欧阳娜娜"


def test_a_member_event_leaves_no_mobile_number_or_name_in_logs_or_the_queued_retry(tenants, monkeypatch, caplog,
                                                                                    capsys):
    from o2o_bridge.connectors.store.api import StoreSystemApi
    from o2o_bridge.connectors.store.errors import PosTransientError
    from o2o_bridge.ledger import mobile_hash

    def unavailable(*args, **kwargs):
        raise PosTransientError("店+ answered 503", status=503)

    monkeypatch.setattr(StoreSystemApi, "put_member", unavailable)
    caplog.set_level(logging.DEBUG, logger="o2o-bridge")
    body = fresh("member.updated", data={"member_id": "M777", "mobile": "+86 139 1234 5678", "name": NAME,
                                         "store_code": "S001", "updated_at": "2026-11-22T11:59:00+08:00"})
    status, answer = send(request(body))
    assert status == 200, answer
    printed = capsys.readouterr()
    logged = "\n".join(record.getMessage() + repr(record.__dict__) for record in caplog.records)
    sqs = boto3.client("sqs")
    queued = [m["Body"] for m in sqs.receive_message(QueueUrl=os.environ["RETRY_QUEUE_URL"], MaxNumberOfMessages=10,
                                                      VisibilityTimeout=0).get("Messages", [])]
    [retry] = [json.loads(b) for b in queued if "members.put_profile" in b]
    assert retry["payload"] == {"person": mobile_hash("10010", MOBILE)}
    for text in (logged, printed.out, printed.err, *queued):
        assert MOBILE not in text and "139 1234 5678" not in text and NAME not in text
