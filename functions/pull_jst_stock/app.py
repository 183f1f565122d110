"""Hourly: JST warehouse stock by ts cursor -> 店+ warehouse stock (S3, S4e)."""

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import kit, stock_sync
from o2o_bridge.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    runtime.lambda_context = context
    return kit.run_for_tenants("pull_jst_stock", stock_sync.pull_jst_stock, build=wiring.context_for,
                               erp="jushuitan", log=logger.info)
