"""Hourly: ERP products by modified window -> 店+ products (JST: S7; 旺店通: W4, price/name/barcode only)."""

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import erp_products, kit
from o2o_bridge.flows.products import sync_products
from o2o_bridge.observability import logger, metrics, traced
from o2o_bridge.outermost import contain_failures

# Outermost but for the tracer, so X-Ray too sees only a failure without secrets (outermost.py).
@traced
@contain_failures()
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    with runtime.invocation(context):
        return kit.scheduled_job("sync_products", kit.for_erp("sync_products", jushuitan=sync_products,
                                                              wangdiantong=erp_products.sync_erp_products), event, build=wiring.context_for)


# The end of Lambda's init phase: a client for each AWS service this function's policies grant
# (tests/template checks the two agree), then the garbage collector back on (o2o_bridge/init_phase.py).
runtime.ready("dynamodb", "kms", "secretsmanager", "sqs")
