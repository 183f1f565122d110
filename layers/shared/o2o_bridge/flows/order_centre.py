"""The order centre's scheduled rounds (functions/poll_jst_documents, every 15 min, per tenant):
货到付款 reconciliation (cod.py), parked orders re-routed and uncollected pickups expired
(healing.py). Each round is independent: one failing does not stop the others,
and the failure is raised at the end so the function's error alarm sees it."""

from __future__ import annotations

from typing import Any, Callable

from ..redaction import redact_text
from . import cash_on_delivery as cod, healing
from .kit import FlowContext, TenantFailures

ROUNDS: dict[str, Callable[[FlowContext], dict[str, Any]]] = {
    "cod": cod.reconcile,
    "heal_parked": healing.heal_parked,
    "expire_pickups": healing.expire_pickups,
}


def rounds(ctx: FlowContext) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    failed = []
    for name, round_ in ROUNDS.items():
        try:
            summary[name] = round_(ctx)
        except Exception as exc:  # noqa: BLE001 - the other rounds still run
            summary[name] = {"ok": False, "error": redact_text(f"{type(exc).__name__}: {exc}",
                                                               ctx.tenant.inline_secrets())}
            failed.append(name)
    if failed:
        raise TenantFailures(f"order-centre round(s) {', '.join(failed)} failed: "
                             + "; ".join(summary[name]["error"] for name in failed))
    return summary
