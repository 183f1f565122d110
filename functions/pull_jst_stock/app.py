"""Hourly: JST warehouse stock by ts cursor -> 店+ warehouse stock (S3, S4e)."""

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import kit, stock_sync
from o2o_bridge.observability import logger, metrics, traced


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def lambda_handler(event, context):
    runtime.lambda_context = context
    return kit.scheduled_job("pull_jst_stock", stock_sync.pull_jst_stock, event, erp="jushuitan", build=wiring.context_for)
