from decimal import Decimal

import pytest

from o2o_bridge.stock_formula import FormulaError, StockFormula


def test_default_and_composite_formulas_compute_over_jst_string_quantities():
    row = {"qty": "10.0000", "virtual_qty": "2", "purchase_qty": 3, "in_qty": 1, "return_qty": 0, "order_lock": "4.0000"}
    assert StockFormula("qty").evaluate(row) == Decimal(10)
    formula = StockFormula("qty + virtual_qty + purchase_qty + in_qty + return_qty - order_lock")
    assert formula.evaluate(row) == Decimal(12)
    assert formula.fields == sorted(["qty", "virtual_qty", "purchase_qty", "in_qty", "return_qty", "order_lock"])


def test_missing_fields_count_as_zero_and_min_max_work():
    assert StockFormula("max(qty - order_lock, 0)").evaluate({"order_lock": 3}) == 0
    assert StockFormula("min(qty, 5) * 2").evaluate({"qty": 9}) == 10


@pytest.mark.parametrize(
    "text, hint",
    [
        ("qty + qtyy", "unknown field 'qtyy'"),
        ("__import__('os').system('id')", "may only use"),
        ("qty / 2", "may only use"),
        ("qty.real", "may only use"),
        ("qty +", "is not an expression"),
        ("max(qty)", "may only use"),
        ("'5'", "may only use"),
    ],
)
def test_anything_but_arithmetic_over_known_fields_is_refused_with_a_reason(text, hint):
    with pytest.raises(FormulaError, match=hint.replace("(", r"\(").replace(")", r"\)")):
        StockFormula(text)
