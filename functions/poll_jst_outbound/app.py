"""Every 2 min: JST sales outbounds of the 店加线下仓 -> store fulfilment orders (S1, S1c)."""

from o2o_bridge.errors import NotImplementedYet
from o2o_bridge.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    raise NotImplementedYet("poll_jst_outbound (S1)", issue=5)
