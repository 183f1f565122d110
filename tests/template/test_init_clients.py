"""Each handler builds at init exactly the AWS clients its policies let it use, and ends its
init phase (o2o_bridge/init_phase.py, runtime.ready): bench/cold_start.py times one client per granted
service, and a grant added without the client (or a client without its grant) fails here."""

from __future__ import annotations

import ast

import pytest

from o2o_local.template import load_template, services_of

TEMPLATE = load_template()
FUNCTIONS = sorted(TEMPLATE.functions.items())


def _ready_call(tree: ast.Module) -> ast.Call | None:
    last = tree.body[-1]
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        func = last.value.func
        if isinstance(func, ast.Attribute) and func.attr == "ready" and getattr(func.value, "id", "") == "runtime":
            return last.value
    return None


@pytest.mark.parametrize("name,function", FUNCTIONS, ids=[name for name, _ in FUNCTIONS])
def test_the_handler_ends_its_init_with_a_client_per_granted_service(name, function):
    tree = ast.parse((function.code_dir / "app.py").read_text(encoding="utf-8"))
    call = _ready_call(tree)
    assert call is not None, f"{name}/app.py must end with runtime.ready(<its services>)"
    built = [arg.value for arg in call.args if isinstance(arg, ast.Constant)]
    assert built == services_of(TEMPLATE, function), (
        f"{name}: runtime.ready{tuple(built)} but its policies grant {services_of(TEMPLATE, function)}")


@pytest.mark.parametrize("name,function", FUNCTIONS, ids=[name for name, _ in FUNCTIONS])
def test_the_bridge_is_the_handlers_first_import_beyond_the_standard_library(name, function):
    """o2o_bridge turns the collector off for the init phase: a library imported before it would
    be imported with the collector on."""
    tree = ast.parse((function.code_dir / "app.py").read_text(encoding="utf-8"))
    import sys

    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            module = node.names[0].name if isinstance(node, ast.Import) else (node.module or "")
            top = module.split(".")[0]
            if top == "__future__" or top in sys.stdlib_module_names:
                continue
            assert top == "o2o_bridge", f"{name}/app.py imports {module} before o2o_bridge"
            return
