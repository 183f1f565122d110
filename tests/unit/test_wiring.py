"""The composition root: every retry step is in its explicit table, a tenant's keys choose its
adapters, and an event type reaches its flow through the typed table."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from o2o_bridge import wiring
from o2o_bridge.errors import ConfigurationError
from o2o_bridge.tenant import parse_tenant
from test_tenant_model import demo_doc


def test_every_named_retry_step_is_in_the_retry_command_table():
    import o2o_bridge.flows as flows

    named = {}
    for module in pkgutil.walk_packages(flows.__path__, "o2o_bridge.flows."):  # the test may look; the worker may not
        for _, member in inspect.getmembers(importlib.import_module(module.name), inspect.isfunction):
            if getattr(member, "command_name", None):
                named[member.command_name] = member
    table = wiring.retry_commands()
    assert sorted(set(named) - set(table)) == []
    assert all(table[name] is step for name, step in named.items())


def test_the_worker_imports_a_step_s_flow_at_its_first_message_and_no_other_flow():
    """The registry looks a command up in RETRY_COMMANDS when a message first names it: the
    worker's first invocation imports that step's flow, not all of them."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from o2o_bridge import wiring\n"
        "registry = wiring.command_registry(lambda tenant: None)\n"
        "assert not [m for m in sys.modules if m.startswith('o2o_bridge.flows.')], 'a flow before any message'\n"
        "assert registry.get('stock.flush_offline') is not None and registry.get('no.such') is None\n"
        "assert 'o2o_bridge.flows.stock_sync' in sys.modules\n"
        "print(sorted(m for m in ('erp_documents', 'members', 'healing', 'store_transfers', 'warehouse_orders')\n"
        "             if 'o2o_bridge.flows.' + m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_table_entry_that_names_another_step_fails_loudly(monkeypatch):
    monkeypatch.setitem(wiring.RETRY_COMMANDS, "stock.flush_offline", ("stock_sync", "reread_stock"))
    with pytest.raises(ConfigurationError, match="stock.reread"):
        wiring.retry_step("stock.flush_offline")


def test_a_jst_tenant_gets_the_jst_adapters_and_an_unknown_key_fails_loudly(monkeypatch):
    from o2o_bridge.connectors.jushuitan import factory
    from o2o_bridge.connectors.jushuitan.erp import JstErp
    from o2o_bridge.connectors.jushuitan.warehouse import JstWarehouse

    monkeypatch.setattr(factory, "jst_for_tenant", lambda tenant: object())
    tenant = parse_tenant(demo_doc())
    assert isinstance(wiring.warehouse_for(tenant), JstWarehouse) and isinstance(wiring.erp_for(tenant), JstErp)
    odd = tenant.model_copy(update={"warehouse": "somewhere"})
    with pytest.raises(ConfigurationError, match="unknown warehouse"):
        wiring.warehouse_for(odd)


def test_every_event_type_reaches_a_flow_function_or_names_who_builds_it():
    from o2o_bridge.events.models import EVENT_TYPES
    from o2o_bridge.events.routes import ROUTES

    assert set(ROUTES) == set(EVENT_TYPES)
    for event_type, route in ROUTES.items():
        assert (route.flow is not None and callable(route.flow)) or route.issues, event_type


def test_every_cli_module_with_commands_is_listed_by_the_cli():
    import o2o_bridge.cli as cli

    with_commands = {module.name for module in pkgutil.iter_modules(cli.__path__)  # the test may look; the CLI may not
                     if not module.name.startswith("_")
                     and hasattr(importlib.import_module(f"o2o_bridge.cli.{module.name}"), "register")}
    assert with_commands == {module.__name__.rsplit(".", 1)[1] for module in cli._command_modules()}
