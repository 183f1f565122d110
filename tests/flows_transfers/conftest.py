from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from o2o_bridge.tenant import parse_tenant

DEMO = Path(__file__).resolve().parents[2] / "local" / "tenants" / "demo.yaml"


def demo_tenant(**changes):
    doc = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    for section, values in changes.items():
        doc[section] = {**doc.get(section, {}), **values} if isinstance(values, dict) else values
    return parse_tenant(doc)


@pytest.fixture
def tenant():
    return demo_tenant()
