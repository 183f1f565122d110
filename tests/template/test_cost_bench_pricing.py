"""bench/cost.py prices Lambda's own log lines and X-Ray from what template.yaml sets, so a change
of the template's defaults changes the bench's figures, never a constant beside them."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from template_facts import ROOT, TEMPLATE


@pytest.fixture(scope="module")
def cost():
    spec = importlib.util.spec_from_file_location("cost_bench", ROOT / "bench" / "cost.py")
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module


def test_the_bench_prices_the_templates_defaults(cost):
    parameters = TEMPLATE["Parameters"]
    assert cost.template_defaults() == (parameters["PlatformLogLevel"]["Default"], parameters["TracingMode"]["Default"])
    assert set(cost.PLATFORM_LOG_BYTES_AT) == set(parameters["PlatformLogLevel"]["AllowedValues"])
    assert cost.PLATFORM_LOG_BYTES_AT["WARN"] == 0 < cost.PLATFORM_LOG_BYTES_AT["INFO"]


def test_xray_records_one_a_second_then_five_percent_under_active_only(cost):
    assert cost.xray_share("PassThrough", 50) == 0
    assert cost.xray_share("Active", 0.2) == 1  # a quiet function: every invocation
    assert cost.xray_share("Active", 1) == 1
    assert cost.xray_share("Active", 20) == pytest.approx((1 + 0.05 * 19) / 20)
    assert cost.xray_share("Active", 10_000) == pytest.approx(0.05, abs=0.001)
