"""`o2o products backfill --since DATE` and `o2o products sync`, as an operator runs them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from fakes import fake_context
from flows_transfers.conftest import demo_tenant
from flows_transfers.s5_s7_fakes import FakeJst, FakeStore
from o2o_bridge import runtime
from o2o_bridge.cli import main as o2o
from o2o_bridge import wiring
from o2o_bridge.flows import kit

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def ctx(aws, monkeypatch):
    tenant = demo_tenant()
    runtime.state_store().put(tenant)
    context = fake_context(tenant, jst=FakeJst(), store=FakeStore(), now=lambda: NOW)
    monkeypatch.setattr(wiring, "context_for", lambda t: context)
    return context


def test_backfill_prints_a_progress_line_per_window_and_a_total(ctx, capsys):
    for days in (15, 8, 1):
        ctx.jst.add_sku(f"D{days}-1", NOW - timedelta(days=days))
    assert o2o(["products", "backfill", "--since", "2026-11-01", "--tenant", "10010"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "tenant 10010: products modified since 2026-11-01T00:00:00+08:00"
    assert [line.split(":")[0].strip() for line in out[1:-1]] == [f"window {n}/4 2026-11-{d}" for n, d in
                                                                    ((1, "01 00"), (2, "08 00"), (3, "15 00"), (4, "22 00"))]
    assert out[-1].startswith("tenant 10010: 4 window(s), 3 sent, 0 failed")
    assert len(ctx.store.products) == 3


def test_backfill_exits_1_when_items_failed(ctx, capsys):
    ctx.jst.add_sku("A-1", NOW - timedelta(days=1), name="")
    assert o2o(["products", "backfill", "--since", "2026-11-20"]) == 1
    assert "1 failed (set aside: o2o products failed, o2o dlq replay)" in capsys.readouterr().out


def test_an_unknown_tenant_or_a_bad_date_is_refused(ctx, capsys):
    # Not found is a failure (1) with one line; a bad argument is a usage error (2).
    assert o2o(["products", "sync", "--tenant", "99999"]) == 1
    assert "no tenant '99999'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        o2o(["products", "backfill", "--since", "last week"])


def test_sync_runs_the_hourly_flow_now(ctx, capsys):
    ctx.jst.add_sku("A-1", NOW - timedelta(hours=2))
    assert o2o(["products", "sync", "--tenant", "10010"]) == 0
    assert '"sent": 1' in capsys.readouterr().out and "A-1" in ctx.store.products


def test_failed_products_are_listed_with_their_error(ctx, capsys):
    from o2o_bridge.flows import products

    ctx.jst.add_sku("A-1", NOW - timedelta(hours=2), name="")
    products.sync_products(ctx)
    capsys.readouterr()
    assert o2o(["products", "failed", "--tenant", "10010"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("A-1  tenant=10010 since=2026-") and "no name in JST" in out
