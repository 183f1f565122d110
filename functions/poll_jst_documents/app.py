"""Every 15 min: missed delivery/return pushes (S2x) and other in/out documents until Confirmed (S5, S6)."""

from o2o_bridge.errors import NotImplementedYet
from o2o_bridge.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    raise NotImplementedYet("poll_jst_documents (S2x, S5, S6)", issue=6)
