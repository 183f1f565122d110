"""The HTTP adapter implements every method of ports.JstApi with the same parameters."""

import inspect

from o2o_bridge.connectors.jushuitan.api import JstApiAdapter
from o2o_bridge.connectors.jushuitan.port import JstApi


def test_the_adapter_implements_the_port():
    for name, member in inspect.getmembers(JstApi, inspect.isfunction):
        if name.startswith("_"):
            continue
        implemented = getattr(JstApiAdapter, name)
        assert list(inspect.signature(implemented).parameters) == list(inspect.signature(member).parameters), name
