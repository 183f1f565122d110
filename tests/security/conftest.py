"""One moto world per module for the attack tests, and pushes as JST (or an attacker) sends them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest

from handlers import answer, sample_event
from o2o_bridge.connectors.jushuitan.signing import legacy_push_sign
from o2o_bridge.tenant import parse_tenant

REFUSED = (401, {"code": 401, "msg": "push not authenticated for this callback URL"})


def demo_doc() -> dict:
    import yaml

    return yaml.safe_load((Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml").read_text("utf-8"))


@pytest.fixture(scope="module")
def bridge():
    """One moto world for the module (like the ``aws`` fixture): each test compares before/after."""
    from aws_setup import template_aws

    with pytest.MonkeyPatch.context() as patch, template_aws(patch, parse_tenant(demo_doc())) as names:
        yield names


def snapshot(env) -> tuple:
    dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
    tables = tuple(json.dumps(sorted(dynamodb.scan(TableName=env[t])["Items"], key=str), sort_keys=True)
                   for t in ("STATE_TABLE", "IDEMPOTENCY_TABLE"))
    queues = tuple(sqs.get_queue_attributes(QueueUrl=env[q], AttributeNames=["All"])["Attributes"][k]
                   for q in ("RETRY_QUEUE_URL", "RETRY_DLQ_URL")
                   for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"))
    return tables, queues


def signed(method: str, *, storage_code: str = "133242", ts: float | None = None, ent_id: str = "10010",
           partner_key: str = "demo-partner-key", **extra) -> dict:
    """A query as JST signs it: every parameter but sign, our entId/storageCode included."""
    query = {"entId": ent_id, "storageCode": storage_code, **extra, "method": method, "partnerid": "jst",
             "ts": str(int(time.time() if ts is None else ts))}
    covered = {k: v for k, v in query.items() if k not in ("method", "partnerid")}
    return {**query, "sign": legacy_push_sign(method, "jst", covered, partner_key)}


def push(function: str, query: dict, body, *, path: str | None = None) -> tuple[int, dict]:
    """A push through the function's real handler; ``path`` for a second URL of one function (cancal)."""
    event = sample_event(function, query=query, body=body)
    path = path or "/jushuitan/" + function
    event.update(rawPath=path, routeKey=f"POST {path}")
    return answer(function, event)
