"""02:10 Asia/Shanghai: compare store and JST stock with what was last pushed; push only what changed (S4)."""

from o2o_bridge.errors import NotImplementedYet
from o2o_bridge.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    raise NotImplementedYet("nightly_stock_push (S4 nightly reconciliation)", issue=7)
