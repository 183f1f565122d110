"""Every 15 min: missed delivery/return pushes (S2x), other in/out documents until Confirmed (S5, S6),
配货 transfers a person must still receive in JST (until JST shows none of their goods on the way),
the order centre's rounds (COD reconciliation, parked orders re-routed, pickups expired), and a
cloud warehouse's lost confirmations (the catch-up of orders, 配货, 退仓 and returns)."""

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import kit
from o2o_bridge.observability import logger, metrics, traced
from o2o_bridge.outermost import contain_failures


def follow_documents(ctx):
    # Independent jobs over the same tenant's documents.
    from o2o_bridge.flows import cloud_warehouse, order_centre, store_transfers, warehouse_orders  # at the first run

    return {"missed_pushes": warehouse_orders.recover_missed_pushes(ctx),
            "other_inout": store_transfers.follow_other_inout(ctx),
            "awaiting_receipt": store_transfers.follow_receipts(ctx),
            "order_centre": order_centre.rounds(ctx),
            "wms_catch_up": cloud_warehouse.catch_up_confirmations(ctx)}


# Outermost but for the tracer, so X-Ray too sees only a failure without secrets (outermost.py).
@traced
@contain_failures()
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    with runtime.invocation(context):
        return kit.scheduled_job("poll_jst_documents", follow_documents, event, erp="jushuitan", build=wiring.context_for)


# The end of Lambda's init phase: a client for each AWS service this function's policies grant
# (tests/template checks the two agree), then the garbage collector back on (o2o_bridge/init_phase.py).
runtime.ready("dynamodb", "kms", "secretsmanager", "sqs")
