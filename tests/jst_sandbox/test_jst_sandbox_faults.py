"""Fault injection: deterministic with a seed, per-path, scripted one-shots, timeouts, latency."""

from __future__ import annotations

import time

import httpx
import pytest

from .test_jst_sandbox_endpoints import _order


def _outcomes(client, path, n):
    out = []
    for _ in range(n):
        resp = client.http.post(path, data=client.form({}))
        out.append((resp.status_code, resp.json()["code"]))
    return out


def test_error_rate_is_deterministic_with_a_seed_and_targets_paths(jst, client):
    jst.faults.configure(error_rate=0.5, seed=7, paths=["/open/shops/query"])
    first = _outcomes(client, "/open/shops/query", 20)
    assert _outcomes(client, "/open/wms/partner/query", 5) == [(200, 0)] * 5  # not targeted
    jst.faults.configure(seed=7)  # re-seeding replays the same sequence
    assert _outcomes(client, "/open/shops/query", 20) == first
    kinds = {("http" if s >= 500 else "jst" if c else "ok") for s, c in first}
    assert kinds == {"http", "jst", "ok"}
    assert all(c in (0, 199) for s, c in first if s == 200)
    jst.faults.configure(seed=8)
    assert _outcomes(client, "/open/shops/query", 20) != first
    logged = [c["fault"] for c in jst.calls("/open/shops/query")]
    assert any(f and f["kind"] == "http" for f in logged)


def test_scripted_faults_hit_the_next_matching_call(jst, client):
    jst.faults.add("http", path="/open/sku/query", code=502)
    jst.faults.add("jst", code=160, times=2)
    assert client.call("/open/shops/query", {})["code"] == 160  # any path
    resp = client.http.post("/open/sku/query", data=client.form({"sku_ids": "TS001-WHT-M"}))
    assert resp.status_code == 502
    assert client.call("/open/wms/partner/query", {})["code"] == 160
    assert client.call("/open/sku/query", {"sku_ids": "TS001-WHT-M"})["code"] == 0


def test_lost_answer_still_applies_the_effect(jst, client):
    jst.faults.add("http", path="/open/jushuitan/orders/upload", code=503, apply_effect=True)
    resp = client.http.post("/open/jushuitan/orders/upload", data=client.form([_order("LOST-1")]))
    assert resp.status_code == 503
    assert [o["so_id"] for o in jst.state.snapshot("orders")] == ["LOST-1"]
    again = client.ok("/open/jushuitan/orders/upload", [_order("LOST-1")])["datas"][0]
    assert again["issuccess"] is True and len(jst.state.orders) == 1


def test_timeout_hangs_without_an_answer(jst, client):
    jst.faults.add("timeout", path="/open/shops/query", delay=1.0)
    start = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        client.http.post("/open/shops/query", data=client.form({}), timeout=0.2)
    assert time.monotonic() - start < 0.9
    assert client.call("/open/wms/partner/query", {})["code"] == 0  # other calls are served meanwhile


def test_latency(jst, client):
    jst.faults.configure(latency_ms=150)
    start = time.monotonic()
    assert client.call("/open/shops/query", {})["code"] == 0
    assert time.monotonic() - start >= 0.15
    jst.faults.reset()
    assert jst.faults.snapshot()["config"]["latency_ms"] == 0
