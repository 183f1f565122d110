"""02:10 Asia/Shanghai: compare store and JST stock with what was last pushed; push only what changed (S4, S4e).

Plans (or resumes) each tenant's run and fans its chunks out through the retry queue; the
retry worker pushes them (flows/stock_nightly.py)."""

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import kit, stock_nightly
from o2o_bridge.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    runtime.lambda_context = context
    return kit.run_for_tenants("nightly_stock_push", stock_nightly.nightly_stock_push, build=wiring.context_for, log=logger.info)
