"""The layer's shape, checked over the source (every import, also those inside functions and
under ``if TYPE_CHECKING``): no cycle between its parts and no import against the layering of
docs/architecture.md. A new import that breaks it fails here, naming the import."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared" / "o2o_bridge"
# The store system's contract (its request, answer and event models): the bridge's own terms
# for 店+, which the store-system port and the flows may name.
STORE_CONTRACT = ("o2o_bridge.connectors.store.models", "o2o_bridge.connectors.store.errors",
                  "o2o_bridge.connectors.store.idempotency", "o2o_bridge.events.models")
# What every connector shares and knows no outside system: windows and batches.
NEUTRAL_HELPERS = ("o2o_bridge.connectors.paging",)


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(LAYER.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_of(path): path for path in LAYER.rglob("*.py")}


@cache
def imports() -> list[tuple[str, str, int]]:
    """(importing module, imported o2o_bridge module, line) for every import in the layer."""
    found = []
    for module, path in _modules().items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:  # ``from . import kit`` imports the module o2o_bridge.flows.kit
                    named = f"{target}.{alias.name}"
                    found.append((module, named if named in _modules() else target, node.lineno))
            elif isinstance(node, ast.Import):
                found += [(module, alias.name, node.lineno) for alias in node.names]
    return [(a, b, line) for a, b, line in found if b.split(".")[0] in ("o2o_bridge", "o2o_local")]


def part(module: str) -> str:
    """The unit the layering speaks of: a connector, the ports, the flows, one events module,
    the store contract, or a top-level module."""
    if module in STORE_CONTRACT:
        return "store contract"
    pieces = module.split(".")
    if pieces[:2] == ["o2o_bridge", "connectors"] and len(pieces) > 2:
        return ".".join(pieces[:3])
    if pieces[:2] == ["o2o_bridge", "events"] and len(pieces) > 2:
        return ".".join(pieces[:3])
    return ".".join(pieces[:2])


def _edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for source, target, _ in imports():
        if part(source) != part(target):
            graph.setdefault(part(source), set()).add(part(target))
    return graph


def _violations(source_prefix: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    return [f"{source}:{line} imports {target}" for source, target, line in imports()
            if (source == source_prefix or source.startswith(source_prefix + "."))
            and any(target == f or target.startswith(f + ".") for f in forbidden)
            and target not in allowed]


def test_the_parts_of_the_layer_form_no_import_cycle():
    graph = _edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == [], f"import cycles between parts of the layer: {cycles}"


def test_ports_import_no_connector_flow_or_edge():
    # The ports speak the bridge's terms only; the store-system port names the store contract,
    # the Ledger port the bridge's own fact model (ledger.py, which imports no port).
    allowed = ("o2o_bridge.errors", "o2o_bridge.connectors.store.models", "o2o_bridge.ledger")
    wrong = [f"{source}:{line} imports {target}" for source, target, line in imports()
             if source.startswith("o2o_bridge.ports") and not target.startswith("o2o_bridge.ports")
             and target not in allowed]
    assert wrong == []


def test_retry_tenant_and_ports_depend_downward_only():
    assert _violations("o2o_bridge.ports", ("o2o_bridge.retry", "o2o_bridge.tenant", "o2o_bridge.retry_commands")) == []
    assert _violations("o2o_bridge.tenant", ("o2o_bridge.retry", "o2o_bridge.retry_commands")) == []
    assert _violations("o2o_bridge.retry_commands", ("o2o_bridge.retry", "o2o_bridge.tenant")) == []


def test_connectors_do_not_import_flows_dispatch_edges_or_the_wiring():
    forbidden = ("o2o_bridge.flows", "o2o_bridge.events.dispatch", "o2o_bridge.events.routes", "o2o_bridge.web",
                 "o2o_bridge.wiring")
    assert _violations("o2o_bridge.connectors", forbidden) == []


def test_flows_know_no_outside_system_but_the_store_contract():
    assert _violations("o2o_bridge.flows", ("o2o_bridge.connectors",), allowed=STORE_CONTRACT + NEUTRAL_HELPERS) == []
    assert _violations("o2o_bridge.flows", ("o2o_bridge.wiring", "o2o_bridge.web", "o2o_bridge.events.dispatch",
                                            "o2o_bridge.events.routes")) == []


def test_events_do_not_import_web():
    assert _violations("o2o_bridge.events", ("o2o_bridge.web",)) == []


def test_production_code_never_imports_the_local_stack_or_the_cli():
    layer = _violations("o2o_bridge", ("o2o_local", "o2o_bridge.cli"))
    handlers = [f"{path.relative_to(ROOT)}:{node.lineno}"
                for path in (ROOT / "functions").glob("*/app.py")
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, (ast.Import, ast.ImportFrom))
                and any(name.startswith(("o2o_local", "o2o_bridge.cli"))
                        for name in ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                        + [a.name for a in node.names])]
    assert layer == [] and handlers == []


def test_the_cli_and_the_local_stack_are_not_in_the_layer():
    # The layer ships layers/shared/o2o_bridge as it is (scripts/build_layer.sh): the `o2o` CLI
    # (tools/, installed as o2o_bridge.cli) and the local stack (local/o2o_local) live beside it.
    import tomllib

    assert sorted(p.name for p in LAYER.parent.iterdir() if p.is_dir()) == ["o2o_bridge"]
    assert [m for m in _modules() if m.startswith(("o2o_bridge.cli", "o2o_local"))] == []
    package_dirs = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-dir"]
    assert not package_dirs["o2o_bridge.cli"].startswith("layers/")
    assert not package_dirs["o2o_local"].startswith("layers/")


def test_the_checks_see_the_imports_they_judge():
    # Guards the checker itself: a function-level relative import and a TYPE_CHECKING one are found.
    found = {(a, b) for a, b, _ in imports()}
    assert ("o2o_bridge.wiring", "o2o_bridge.connectors.jushuitan.erp") in found
    assert ("o2o_bridge.ports.store_system", "o2o_bridge.connectors.store.models") in found
    assert ("o2o_bridge.events.routes", "o2o_bridge.flows.warehouse_orders") in found
