"""The composition root: what each Lambda's flows stand on, built per tenant and per container.

Handlers ask here and nowhere else:

- ``context_for(tenant)``: the FlowContext of one tenant: its Warehouse and Erp adapters (by
  the tenant's ``erp`` and ``warehouse`` keys), the store system, DynamoDB state, the SQS
  retry queue, the document ledger, metrics and the invocation's remaining time.
- ``ledger_writer()``: the ledger writer's store and how it parks a poisoned message.
- ``compactable_ledger()``, ``invocation_clock()``, ``count_metric``: what compact_ledger's
  bridge-wide run stands on (no tenant context: it reads the tenants from the ledger).
- ``retry_runner()``: the retry worker's runner over the explicit table of retry commands
  (``RETRY_COMMANDS``), each rebuilt with ``context_for``.

The outside systems' clients are built once per container and per tenant by their connector
factories (connectors/*/factory.py) and reused; nothing here runs at import time, so a cold
start pays only for what its first request uses.

Adding an ERP or a warehouse: implement its port in ``connectors/<name>/`` and add one line
to ``erp_for`` / ``warehouse_for`` (docs/architecture.md, "Adding an ERP or a warehouse").
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .flows.kit import FlowContext, FlowStep
    from .ports import Erp, Warehouse
    from .ports.ledger import CompactableLedger, LedgerStore
    from .ports.retail import RetailErp
    from .retry import RetryRunner
    from .tenant import Tenant

ContextFactory = Callable[["Tenant"], "FlowContext"]

def erp_for(tenant: "Tenant") -> "Erp | RetailErp":
    """The tenant's ERP adapter, by its ``erp`` key: the Erp port both JST and 旺店通 implement
    (one flow per business act); 旺店通's adapter also serves the RetailErp port (ports/retail.py)
    for what only it does (W1's orders of the POS shop, W2)."""
    name = tenant.erp
    if name == "jushuitan":
        from .connectors.jushuitan.erp import JstErp
        from .connectors.jushuitan.factory import jst_for_tenant

        return JstErp(jst_for_tenant(tenant), tenant)
    if name == "wangdiantong":
        from .connectors.wangdiantong.factory import erp_for_tenant

        return erp_for_tenant(tenant)
    raise ConfigurationError(f"tenant {tenant.ent_id} names an unknown ERP {name!r}")


def warehouse_for(tenant: "Tenant", *, records: Any = None, timeline: Any = None,
                  metric: Callable[[str, float], None] | None = None) -> "Warehouse":
    """The tenant's warehouse adapter, by its ``warehouse`` key (``erp``: the ERP's own; ``qimen``:
    a cloud WMS over 奇门, which keeps its document ledger in the tenant's state)."""
    name = tenant.warehouse
    if name == "qimen":  # a cloud WMS over 奇门 ships, holds the stock, takes 配货 / 退仓
        from .connectors.qimen.warehouse import warehouse_for_tenant

        return warehouse_for_tenant(tenant, records=records, timeline=timeline, metric=metric)
    if name == "erp":
        if tenant.erp == "jushuitan":
            from .connectors.jushuitan.factory import jst_for_tenant
            from .connectors.jushuitan.warehouse import JstWarehouse

            return JstWarehouse(jst_for_tenant(tenant), tenant)
        # 旺店通 here keeps the stores' books; the warehouse scenarios (S2, S5, S6) are not its.
        return NotThisErp(tenant, "warehouse")  # type: ignore[return-value]
    raise ConfigurationError(f"tenant {tenant.ent_id} names an unknown warehouse {name!r}")


class NotThisErp:
    """A port this tenant's ERP does not serve (a 旺店通 tenant's JST-scenario warehouse): any
    use is a configuration error naming the tenant, its ERP and the step, never a call."""

    def __init__(self, tenant: "Tenant", port: str) -> None:
        self._tenant, self._port = tenant, port

    def stock_locations(self) -> list[Any]:
        """It holds no stock the store system shows (the stock reads ask every source)."""
        return []

    def __getattr__(self, name: str) -> Any:
        raise ConfigurationError(f"tenant {self._tenant.ent_id}'s ERP is {self._tenant.erp}: its {self._port} "
                                 f"does not take the step {name}")


class _Lazy:
    """A port built on first use: a flow that never touches the ERP (a 配货 for a tenant whose
    warehouse is a WMS) does not build, or fail on, the ERP adapter."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build

    @functools.cached_property
    def _port(self) -> Any:
        return self._build()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._port, name)


def context_for(tenant: "Tenant") -> "FlowContext":
    """The context a Lambda gives its flows for ``tenant``."""
    from . import runtime
    from .connectors.aws.dynamodb_state import CursorView, RecordView
    from .connectors.store.factory import store_system_for_tenant
    from .flows.kit import FlowContext

    store = runtime.state_store()
    records = RecordView(store)  # one per piece of work, shared by its flows and adapters
    time_left = invocation_clock(runtime.lambda_context())
    metric = count_metric

    return FlowContext(
        tenant=tenant,
        warehouse=_Lazy(lambda: warehouse_for(tenant, records=records, timeline=store,  # type: ignore[arg-type]
                                              metric=metric)),
        erp=_Lazy(lambda: erp_for(tenant)),  # type: ignore[arg-type]
        store=store_system_for_tenant(tenant),
        links=store,
        cursors=CursorView(store),
        records=records,
        timeline=store,
        queue=runtime.command_queue(),
        metric=metric,
        time_left=time_left,
        retry_base_delay_seconds=runtime.settings().retry_base_delay_seconds,
        ledger=runtime.ledger(),
    )


def invocation_clock(lambda_context: Any) -> Callable[[], float]:
    """Seconds the invocation may still run (unbounded outside Lambda)."""

    def time_left() -> float:
        if lambda_context is None or not hasattr(lambda_context, "get_remaining_time_in_millis"):
            return float("inf")
        return lambda_context.get_remaining_time_in_millis() / 1000

    return time_left


def count_metric(name: str, value: float = 1) -> None:
    from .observability import metrics

    metrics.add_metric(name=name, unit="Count", value=value)


def compactable_ledger() -> "CompactableLedger":
    """compact_ledger's ledger: the stack's bucket (LEDGER_BUCKET), or the local stack's files."""
    from . import runtime

    ledger = runtime.ledger_store()
    if not hasattr(ledger, "compact_day"):
        raise ConfigurationError("compact_ledger has no ledger to compact: template.yaml gives it LEDGER_BUCKET "
                                 "(O2O_LEDGER_DIR in the local stack)")
    return ledger  # type: ignore[return-value]


def ledger_writer() -> tuple["LedgerStore", Callable[[Any, str], None]]:
    """The ledger writer's store (the bucket, or the local stack's files) and how it parks a
    poisoned message: on RetryDLQ with its reason (``o2o dlq list``), its body redacted."""
    from . import runtime
    from .redaction import redact_text
    from .retry import DeadLetter

    def park(message: Any, reason: str) -> None:
        runtime.command_queue().dead_letter(DeadLetter(envelope=None, reason=reason, error_type="PoisonedLedgerFact",
                                                       raw_body=redact_text(message.body[:10_000])))

    return runtime.ledger_store(), park


# --- retry commands ---------------------------------------------------------------------------------


# Every flow step the retry queue may carry: its command name -> (its module in o2o_bridge.flows,
# the step's name there). A step a flow may queue (``kit.attempt``, ``kit.settle``, a fan-out)
# must be listed here: a test checks it. The worker imports a step's module when a message first
# names it, not every flow at its first message (a container serves the few commands queued then).
RETRY_COMMANDS: dict[str, tuple[str, str]] = {
    # S1
    "s1.dispatch": ("store_fulfilment", "dispatch"),
    "s1.create_at_store": ("store_fulfilment", "create_at_store"),
    "s1.confirm_outbound": ("store_fulfilment", "confirm_outbound"),
    "s1.rejected": ("store_fulfilment", "store_rejected"),
    "s1.cancel_at_store": ("store_fulfilment", "cancel_at_store"),
    "s1.handle_outbound": ("store_fulfilment", "handle_outbound_again"),
    # S2
    "s2.upload_order": ("warehouse_orders", "upload_order"),
    "s2.cancel_in_jst": ("warehouse_orders", "cancel_in_warehouse"),
    "s2.upload_aftersale": ("warehouse_orders", "upload_aftersale"),
    "s2.recheck": ("warehouse_orders", "recheck"),
    "s2.record_shipment": ("warehouse_orders", "record_shipment"),
    "s2.cancel_store_order": ("warehouse_orders", "cancel_store_order"),
    "s2.record_return_receipt": ("warehouse_orders", "record_return_receipt"),
    # S3 / S4
    "stock.set_warehouse": ("stock_sync", "set_warehouse_stock"),
    "stock.reread": ("stock_sync", "reread_stock"),
    "stock.flush_offline": ("stock_sync", "flush_offline_stock"),
    "stock.apply_warehouse_level": ("stock_sync", "apply_warehouse_level"),
    "stock.nightly_chunk": ("stock_nightly", "push_chunk_command"),
    # S5 / S6
    "store_transfers.upload_part": ("store_transfers", "upload_part"),
    "store_transfers.tell_store": ("store_transfers", "tell_store"),
    "store_transfers.follow_part": ("store_transfers", "follow_part"),
    # Q6: products to a cloud warehouse; a lost confirm's catch-up whose answer could not be read
    "qimen.sync_items": ("cloud_warehouse", "sync_items"),
    "qimen.catch_up": ("cloud_warehouse", "catch_up_document"),
    # S7: a product the hourly sync set aside, read and sent again
    "products.send_again": ("products", "send_again"),
    # The store's books in the ERP (JST with stock.master erp, 旺店通 always): 零售单 / W1, 零售退单,
    # 盘点单, 店店调拨 and the store's own documents (W3)
    "erp_store.book_move": ("erp_store_stock", "book_move"),
    "erp_store.book_count": ("erp_store_stock", "book_count"),
    "store_sales.push_sale": ("store_sales", "push_sale"),
    # W2, W4, W5: 旺店通's documents, products and nightly counts (a row that cannot be read is
    # read again by its *_again step; W5's ERP rows by stock_sync.reread_stock, listed above)
    "erp_documents.deliver": ("erp_documents", "deliver_document"),
    "erp_documents.deliver_again": ("erp_documents", "deliver_again"),
    "erp_products.create": ("erp_products", "create_products"),
    "erp_products.update": ("erp_products", "update_products"),
    "erp_products.update_again": ("erp_products", "update_again"),
    "erp_stock.count_store_stock": ("erp_stock", "count_store_stock"),
    # Order centre: a member's merged profile to the store system (P14); a record a round set
    # aside (COD reconciliation, a parked order healed, a pickup's expiry)
    "members.put_profile": ("members", "put_profile"),
    "members.merge_member": ("members", "merge_member"),
    "cod.reconcile_record": ("cash_on_delivery", "reconcile_record"),
    "healing.heal_order": ("healing", "heal_order"),
    "healing.expire_pickup": ("healing", "expire_pickup"),
    # Dead letters queued by the release before under names since changed (docs/runbook.md, "Upgrading")
    "store_documents.book_movement": ("erp_store_stock", "book_movement_as_queued_before"),
    "store_documents.book_count": ("erp_store_stock", "book_count_as_queued_before"),
    "erp_stock.set_store_stock": ("stock_sync", "set_store_stock_as_queued_before"),
    "erp_stock.set_stock_row_again": ("stock_sync", "set_stock_row_as_queued_before"),
}


def retry_step(name: str) -> "FlowStep | None":
    """The flow step that re-runs command ``name`` (its module imported now); None if none does."""
    import importlib

    where = RETRY_COMMANDS.get(name)
    if where is None:
        return None
    module, attribute = where
    step = getattr(importlib.import_module(f"o2o_bridge.flows.{module}"), attribute)
    if getattr(step, "command_name", None) != name:
        raise ConfigurationError(f"RETRY_COMMANDS lists {module}.{attribute} for {name!r}, but that step is "
                                 f"{getattr(step, 'command_name', None)!r}")
    return step


def retry_commands() -> dict[str, "FlowStep"]:
    """Every step of RETRY_COMMANDS, by command name (every flow imported)."""
    return {name: retry_step(name) for name in RETRY_COMMANDS}  # type: ignore[misc]


def command_registry(context_factory: ContextFactory):
    """The retry commands as the RetryRunner runs them: each step gets the envelope's tenant's
    context from ``context_factory``; a step is looked up (its module imported) at its first message."""
    from .errors import BridgeError
    from .retry_commands import CommandRegistry

    def lookup(name: str):
        step = retry_step(name)
        if step is None:
            return None

        def run(command) -> None:
            if command.tenant is None:
                raise BridgeError(f"retry command {name!r} needs a tenant")
            ctx = context_factory(command.tenant)
            if command.read_ahead is not None:  # read with the tenant: the step's first read asks nothing
                wanted, found = command.read_ahead
                ctx.records.remember_read(command.tenant.ent_id, wanted, found)
            step(ctx, command.payload)

        return run

    return CommandRegistry(lookup=lookup)


def retry_runner() -> "RetryRunner":
    """The retry worker's runner, built once per container (again only when runtime.reset()
    gave new settings or clients)."""
    from . import runtime

    return _retry_runner(runtime.settings(), runtime.command_queue(), runtime.state_store())


@functools.lru_cache(maxsize=1)
def _retry_runner(config: Any, queue: Any, store: Any) -> "RetryRunner":
    from .connectors.aws.dynamodb_state import RecordView
    from .retry import RetryRunner

    return RetryRunner(
        # Looked up at each command, so a test's context factory (or a re-wired one) is used.
        command_registry(lambda tenant: context_for(tenant)),
        queue,
        store,
        store,
        max_attempts=config.retry_max_attempts,
        base_delay_seconds=config.retry_base_delay_seconds,
        no_delay=config.retry_no_delay,
        records=RecordView(store),  # a redelivered attempt queues its next one once (no forked chains)
    )
