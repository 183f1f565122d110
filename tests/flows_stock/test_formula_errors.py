"""A bad stock formula is refused when the tenant is stored, with a message an implementer can act on."""

import pytest
from pydantic import ValidationError

from o2o_bridge.tenant import validation_messages

from .stock_fakes import tenant_with


@pytest.mark.parametrize(
    "formula, message",
    [
        ("qty + reserved", "stock.formula: unknown field 'reserved' in stock formula 'qty + reserved'; known fields: qty, "),
        ("", "stock.formula: stock formula is empty; write e.g. qty"),
        ("qty / 2", "'qty / 2' is not allowed"),
        ("max(qty)", "max() and min() with two or more arguments; 'max(qty)' is not allowed"),
        ("__import__('os').system('id')", "is not allowed"),
        ("qty +", "stock.formula: stock formula 'qty +' is not an expression"),
    ],
)
def test_formula_errors_name_the_key_and_the_offending_part(formula, message):
    with pytest.raises(ValidationError) as caught:
        tenant_with(lambda d: d["stock"].update(formula=formula))
    lines = validation_messages(caught.value)
    assert any(message in line for line in lines), lines


def test_a_good_formula_is_stored_and_used():
    tenant = tenant_with(lambda d: d["stock"].update(formula="max(qty - order_lock, 0) + virtual_qty"))
    from o2o_bridge.flows.stock_sync import formula_for

    assert formula_for(tenant).evaluate({"qty": 5, "order_lock": 7, "virtual_qty": 2}) == 2
