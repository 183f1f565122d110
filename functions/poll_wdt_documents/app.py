"""Every 10 min: 旺店通 stock-in / stock-out documents of the stores' warehouses -> pending
inbound receipts (P12) and outbound notes (P13) at the stores, unknown SKUs created first (W2);
and, for a tenant whose warehouse is a cloud WMS, its lost confirmations (the catch-up:
deliveryorder.query / entryorder.query)."""

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import cloud_warehouse, erp_documents, kit
from o2o_bridge.observability import logger, metrics, traced
from o2o_bridge.outermost import contain_failures


def follow_documents(ctx):
    # Independent jobs over the same tenant's documents.
    return {"erp_documents": erp_documents.poll_erp_documents(ctx),
            "wms_catch_up": cloud_warehouse.catch_up_confirmations(ctx)}


# Outermost but for the tracer, so X-Ray too sees only a failure without secrets (outermost.py).
@traced
@contain_failures()
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    with runtime.invocation(context):
        return kit.scheduled_job("poll_wdt_documents", follow_documents, event, erp="wangdiantong",
                                 build=wiring.context_for)


# The end of Lambda's init phase: a client for each AWS service this function's policies grant
# (tests/template checks the two agree), then the garbage collector back on (o2o_bridge/init_phase.py).
runtime.ready("dynamodb", "kms", "secretsmanager", "sqs")
