"""`o2o qimen call`: one signed call with the stored tenant's app, against the WMS sandbox."""

from __future__ import annotations

import pytest

from o2o_bridge import wiring
from o2o_bridge import runtime
from o2o_bridge.cli import main
from o2o_bridge.connectors.qimen import factory
from o2o_bridge.tenant import parse_tenant
from o2o_local.qimen_sandbox import QimenSandbox
from qimen_wms import cloud_doc, demo_doc


@pytest.fixture
def wms(aws):
    with QimenSandbox() as sandbox:
        doc = cloud_doc()
        doc["qimen"]["gateway_url"] = sandbox.gateway_url
        runtime.state_store().put(parse_tenant(doc))
        factory.forget()
        yield sandbox
    factory.forget()


def test_call_sends_the_file_as_it_is_and_prints_the_answer(wms, tmp_path, capsys):
    request = tmp_path / "query.xml"
    request.write_bytes('<?xml version="1.0" encoding="utf-8"?><request><criteriaList><criteria>'
                        "<warehouseCode>WH01</warehouseCode><ownerCode>OWNER01</ownerCode>"
                        "<itemCode>TS001-WHT-M</itemCode></criteria></criteriaList></request>".encode())
    assert main(["qimen", "call", "inventory.query", str(request), "--tenant", "10020"]) == 0
    out = capsys.readouterr().out
    assert "<flag>success</flag>" in out and "<quantity>50</quantity>" in out
    assert wms.state.calls[0]["body"] == request.read_text()
    assert wms.state.calls[0]["method"] == "taobao.qimen.inventory.query"


def test_call_with_json_prints_the_parsed_answer_as_one_json_document(wms, capsys):
    import json

    assert main(["qimen", "call", "taobao.qimen.order.cancel", "--tenant", "10020", "--json"]) == 1
    shown = json.loads(capsys.readouterr().out)
    assert (shown["method"], shown["http_status"], shown["root"]) == ("taobao.qimen.order.cancel", 200, "response")
    assert shown["answer"]["flag"] == "failure"


def test_a_refusal_prints_the_answer_and_exits_1(wms, capsys):
    assert main(["qimen", "call", "taobao.qimen.order.cancel", "--tenant", "10020"]) == 1
    captured = capsys.readouterr()
    assert "<flag>failure</flag>" in captured.out and "order-not-found" in captured.err
    assert "demo-qimen-app-secret" not in captured.out + captured.err


def test_usage_errors(wms, capsys, tmp_path):
    assert main(["qimen", "call", "inventory.query", str(tmp_path / "missing.xml"), "--tenant", "10020"]) == 2
    assert main(["qimen", "call", "inventory.query", "--tenant", "nobody"]) == 1  # not found, not a usage error
    runtime.state_store().put(parse_tenant(demo_doc()))
    assert main(["qimen", "call", "inventory.query", "--tenant", "10010"]) == 2
    err = capsys.readouterr().err
    assert "no file" in err and "no tenant 'nobody'" in err and "tenant 10010 has no qimen section" in err


def test_exceptions_list_shows_cloud_warehouse_exceptions(wms, capsys):
    from o2o_bridge.connectors.qimen.ledger import raise_exception
    from o2o_bridge.flows import kit

    tenant = runtime.state_store().get("10020")
    ctx = wiring.context_for(tenant)
    raise_exception(ctx, "WM1", "cancel_refused", message="cancel:cancel-refused",
                    detail={"store_key": "WM1", "wms_message": "已发货，不能取消"})
    raise_exception(ctx, "WM2", "confirmed_beyond_plan", message="deliveryorder.confirm:M9",
                    detail={"store_key": "WM2", "excess": {"A": 1}})
    assert main(["exceptions", "list", "--tenant", "10020"]) == 0
    out = capsys.readouterr().out
    assert "WM1  tenant=10020 kind=qimen.cancel_refused" in out and "已发货，不能取消" in out
    assert "kind=qimen.confirmed_beyond_plan" in out and 'excess={"A": 1}' in out
    assert "2 open exception(s)" in out


def test_catch_up_asks_now_and_says_what_it_took(wms, capsys):
    """`o2o qimen catch-up`: every open document asked for now, whatever its quiet time."""
    import json

    from o2o_bridge.connectors.qimen.ledger import DOCUMENT_KIND

    tenant = runtime.state_store().get("10020")
    wiring.context_for(tenant).records.put("10020", DOCUMENT_KIND, "WM-CLI", {
        "kind": "delivery", "plan": {"TS001-WHT-M": 1}, "confirmed": {}, "order_type": "JYCK", "store_key": "WM-CLI",
        "final": False, "parcels": [], "news_at": "2999-01-01T00:00:00+00:00"})  # news just now: not due by time
    capsys.readouterr()
    assert main(["qimen", "catch-up", "--tenant", "10020"]) == 1  # the WMS does not know WM-CLI: a failure
    summary = json.loads(capsys.readouterr().out)
    assert (summary["due"], summary["asked"], summary["failed"]) == (1, 1, 1)
    assert wms.state.calls[-1]["method"] == "taobao.qimen.deliveryorder.query"


def test_catch_up_usage(wms, capsys):
    assert main(["qimen", "catch-up", "--tenant", "nobody"]) == 1
    runtime.state_store().put(parse_tenant(demo_doc()))
    assert main(["qimen", "catch-up", "--tenant", "10010"]) == 2
    assert "no cloud warehouse" in capsys.readouterr().err
