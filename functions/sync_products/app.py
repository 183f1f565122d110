"""Hourly: JST SKUs / mall items by modified window -> 店+ products (S7)."""

from o2o_bridge.errors import NotImplementedYet
from o2o_bridge.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    raise NotImplementedYet("sync_products (S7)", issue=8)
