"""Every 15 min: missed delivery/return pushes (S2x), other in/out documents until Confirmed (S5, S6),
the order centre's rounds (COD reconciliation, parked orders re-routed, pickups expired), and a
cloud warehouse's lost confirmations (Q1 catch-up: deliveryorder.query)."""

from o2o_bridge import runtime
from o2o_bridge.flows import kit
from o2o_bridge.observability import logger, metrics, traced


recover_missed_pushes = kit.flow_function("warehouse_orders", "recover_missed_pushes",
                                           what="poll_jst_documents: missed delivery/return pushes (S2x)", issue=6)
follow_other_inout = kit.flow_function("store_transfers", "follow_other_inout",
                                       what="poll_jst_documents: other in/out until Confirmed (S5, S6)", issue=8)
order_centre_rounds = kit.flow_function("order_centre", "rounds",
                                        what="poll_jst_documents: the order centre's rounds", issue=18)
catch_up_deliveries = kit.flow_function("cloud_warehouse", "catch_up_deliveries",
                                        what="poll_jst_documents: a cloud warehouse's lost confirmations (Q1)", issue=17)


def follow_documents(ctx):
    # Independent jobs over the same tenant's documents.
    return {"missed_pushes": recover_missed_pushes(ctx), "other_inout": follow_other_inout(ctx),
            "order_centre": order_centre_rounds(ctx), "wms_catch_up": catch_up_deliveries(ctx)}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def lambda_handler(event, context):
    runtime.lambda_context = context
    return kit.scheduled_job("poll_jst_documents", follow_documents, event, erp="jushuitan")
