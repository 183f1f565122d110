"""Hourly: JST SKUs / mall items by modified window -> 店+ products (S7)."""

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import kit
from o2o_bridge.flows.products import sync_products
from o2o_bridge.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    runtime.lambda_context = context
    return kit.run_for_tenants("sync_products", sync_products, build=wiring.context_for, log=logger.info)
