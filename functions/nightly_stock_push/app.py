"""02:10 Asia/Shanghai: the day's changed stock in one direction (JST: S4, S4e; 旺店通: W5 by stock.master).

Plans (or resumes) each tenant's run and fans its chunks out through the retry queue; the
retry worker pushes them (flows/stock_nightly.py)."""

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import erp_stock, kit, stock_nightly
from o2o_bridge.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    runtime.lambda_context = context
    return kit.run_for_tenants("nightly_stock_push", kit.for_erp("nightly_stock_push",
                                                                 jushuitan=stock_nightly.nightly_stock_push,
                                                                 wangdiantong=erp_stock.nightly_erp_stock),
                               build=wiring.context_for, log=logger.info)
