"""Hourly: JST warehouse stock by ts cursor -> 店+ warehouse stock (S3, S4e)."""

from o2o_bridge.errors import NotImplementedYet
from o2o_bridge.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    raise NotImplementedYet("pull_jst_stock (S3)", issue=7)
