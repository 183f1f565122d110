"""Until the ERP-neutral flows take a cloud WMS, a cloud-warehouse tenant's order, 配货 and
退仓 events are answered 501 naming the issue, never handed to the ERP's warehouse flows."""

from __future__ import annotations

import pytest

from o2o_bridge.errors import NotImplementedYet
from o2o_bridge.events.dispatch import CLOUD_WAREHOUSE_EVENTS, FLOWS
from o2o_bridge.tenant import parse_tenant
from qimen_wms import cloud_doc


@pytest.mark.parametrize("event_type", sorted(CLOUD_WAREHOUSE_EVENTS))
def test_warehouse_events_of_a_cloud_tenant_are_not_sent_to_the_erp(event_type, monkeypatch):
    from o2o_bridge.flows import kit

    called = []
    monkeypatch.setattr(kit, "flow_function", lambda *a, **k: called.append(a) or (lambda *x: None))
    with pytest.raises(NotImplementedYet, match="issue #17"):
        FLOWS[event_type](object(), parse_tenant(cloud_doc()))
    assert called == []
