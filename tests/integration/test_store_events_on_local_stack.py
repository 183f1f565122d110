"""Store events as the 店+ sandbox sends them: signed, over HTTP, through the local API
emulator to the real pos_events handler, against moto server."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from o2o_bridge.cli import main as o2o

pytestmark = pytest.mark.integration

DEMO_TENANT = Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml"
SHIPPED = {"fulfilment_id": "F1001", "external_id": "700001", "carrier_code": "SF",
           "tracking_no": "SF1400099999999", "shipped_at": "2026-11-22T10:29:00+08:00"}


@pytest.fixture(scope="module")
def stack():
    from o2o_local.pos_sandbox import PosSandbox
    from o2o_local.stack import LocalStack

    with LocalStack(api_port=0, aws_port=0, sandboxes=False, scheduler=False) as running:
        assert o2o(["tenant", "put", str(DEMO_TENANT)]) == 0
        with PosSandbox(bridge_url=running.addresses()["api"]) as store:
            store.seed_demo()
            running.store = store
            yield running


def written(stack) -> int:
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.endpoint_url)
    return sum(dynamodb.scan(TableName=f"o2o-local-{table}", Select="COUNT")["Count"]
               for table in ("StateTable", "IdempotencyTable"))


def test_a_signed_event_reaches_its_flow_which_refuses_an_unknown_fulfilment(stack):
    before = written(stack)
    result = stack.store.emit("fulfilment.shipped", SHIPPED, ent_id="10010")
    assert result.status == 422  # S1 (#5): F1001 is no fulfilment order the bridge created
    assert "F1001" in result.body["msg"]
    assert written(stack) == before  # nothing written on a 4xx


def test_a_forged_signature_is_refused_with_401_and_nothing_written(stack):
    before = written(stack)
    result = stack.store.emit("fulfilment.shipped", SHIPPED, ent_id="10010", secret="not-the-webhook-secret")
    assert result.status == 401 and result.body["code"] == 401
    assert written(stack) == before
