"""Every 15 min: warehouse news the pushes missed (S2x) and 配货/退仓 documents until the
warehouse confirms them (S5, S6)."""

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import kit
from o2o_bridge.observability import logger, metrics


def follow_documents(ctx):
    # Two independent jobs over the same tenant's warehouse documents (loaded at the first run).
    from o2o_bridge.flows import store_transfers, warehouse_orders

    return {"missed_pushes": warehouse_orders.recover_missed_pushes(ctx),
            "other_inout": store_transfers.follow_other_inout(ctx)}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    runtime.lambda_context = context
    return kit.run_for_tenants("poll_jst_documents", follow_documents, build=wiring.context_for, erp="jushuitan",
                               log=logger.info)
