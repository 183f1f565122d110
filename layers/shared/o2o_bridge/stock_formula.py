"""The tenant's stock formula: a safe arithmetic expression over JST inventory fields.

``qty + virtual_qty + purchase_qty + in_qty + return_qty - order_lock`` is parsed once
into an AST that may only contain numbers, the known field names, + - * and
``max()`` / ``min()``. It is never passed to ``eval``.
"""

from __future__ import annotations

import ast
from decimal import Decimal
from typing import Mapping

# JST inventory fields (/open/inventory/query) a formula may use.
INVENTORY_FIELDS = (
    "qty",
    "virtual_qty",
    "purchase_qty",
    "in_qty",
    "return_qty",
    "order_lock",
    "pick_lock",
    "defective_qty",
    "lock_qty",
    "min_qty",
    "max_qty",
    "customize_qty_1",
    "customize_qty_2",
    "customize_qty_3",
)

_OPERATORS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b}
_FUNCTIONS = {"max": max, "min": min}


class FormulaError(ValueError):
    """The formula text is not a valid stock formula; the message says where."""


class StockFormula:
    def __init__(self, text: str) -> None:
        self.text = text
        if not text.strip():
            raise FormulaError("stock formula is empty; write e.g. qty (the default) or qty + virtual_qty - order_lock")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise FormulaError(f"stock formula {text!r} is not an expression: {exc.msg}") from None
        self._check(tree.body)
        self._tree = tree.body
        self.fields = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in _FUNCTIONS})

    def _check(self, node: ast.AST) -> None:
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            self._check(node.left)
            self._check(node.right)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            self._check(node.operand)
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return
        elif isinstance(node, ast.Name):
            if node.id not in INVENTORY_FIELDS:
                raise FormulaError(
                    f"unknown field {node.id!r} in stock formula {self.text!r}; known fields: {', '.join(INVENTORY_FIELDS)}"
                )
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and not node.keywords
            and len(node.args) >= 2
        ):
            for arg in node.args:
                self._check(arg)
        else:
            found = ast.get_source_segment(self.text.strip(), node) or type(node).__name__
            raise FormulaError(
                f"stock formula {self.text!r} may only use numbers, inventory fields, + - *, max() and min() "
                f"with two or more arguments; {found!r} is not allowed"
            )

    def evaluate(self, inventory: Mapping[str, object]) -> Decimal:
        """The formula's value for one inventory row; absent fields count as 0."""
        return self._eval(self._tree, inventory)

    def _eval(self, node: ast.AST, row: Mapping[str, object]) -> Decimal:
        if isinstance(node, ast.BinOp):
            return _OPERATORS[type(node.op)](self._eval(node.left, row), self._eval(node.right, row))
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, row)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Constant):
            return Decimal(str(node.value))
        if isinstance(node, ast.Name):
            raw = row.get(node.id)
            return Decimal(str(raw)) if raw not in (None, "") else Decimal(0)
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        return _FUNCTIONS[node.func.id](self._eval(arg, row) for arg in node.args)

    def __repr__(self) -> str:
        return f"StockFormula({self.text!r})"
