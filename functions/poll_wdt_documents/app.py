"""Every 10 min: 旺店通 stock-in / stock-out documents of the stores' warehouses -> pending
inbound receipts (P12) and outbound notes (P13) at the stores, unknown SKUs created first (W2)."""

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import erp_documents, kit
from o2o_bridge.observability import logger, metrics, traced


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def lambda_handler(event, context):
    runtime.lambda_context = context
    return kit.scheduled_job("poll_wdt_documents", erp_documents.poll_erp_documents, event, erp="wangdiantong", build=wiring.context_for)
