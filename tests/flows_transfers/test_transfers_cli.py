"""`o2o transfers exceptions`: what an operator sees of 配货 / 退仓 documents voided in JST."""

from __future__ import annotations

import pytest

from fakes import fake_context
from flows_transfers.conftest import demo_tenant
from flows_transfers.s5_s7_fakes import FakeJst, FakeStore
from flows_transfers.test_store_transfers import submit
from o2o_bridge import runtime
from o2o_bridge.cli import main as o2o
from o2o_bridge import wiring
from o2o_bridge.flows import kit, store_transfers


@pytest.fixture
def ctx(aws, monkeypatch):
    tenant = demo_tenant()
    runtime.state_store().put(tenant)
    context = fake_context(tenant, jst=FakeJst(), store=FakeStore())
    monkeypatch.setattr(wiring, "context_for", lambda t: context)
    return context


def test_voided_documents_are_listed_and_cleared_once_settled(ctx, capsys):
    submit(ctx, "transfer.submitted", "PH-X", [{"sku_id": "A", "qty": 1}])
    ctx.jst.set_status("PH-X", "Cancelled")
    store_transfers.follow_other_inout(ctx)

    assert o2o(["transfers", "exceptions"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PH-X  tenant=10010 kind=transfer") and "voided (Cancelled)" in out

    assert o2o(["transfers", "exceptions", "--clear", "PH-X", "--tenant", "10010"]) == 0
    assert "cleared transfer PH-X" in capsys.readouterr().out
    assert o2o(["transfers", "exceptions"]) == 0
    assert capsys.readouterr().out.strip() == "no 配货 / 退仓 exception"
    assert ctx.timeline.steps("PH-X")[-1] == "transfer.exception_cleared"
