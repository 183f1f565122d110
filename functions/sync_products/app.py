"""Hourly: ERP products by modified window -> 店+ products (JST: S7; 旺店通: W4, price/name/barcode only)."""

from o2o_bridge import runtime
from o2o_bridge.flows import kit
from o2o_bridge.flows.products import sync_products
from o2o_bridge.observability import logger, metrics, traced

sync_erp_products = kit.flow_function("erp_products", "sync_erp_products",
                                      what="sync_products: hourly 旺店通 price/name/barcode update (W4)", issue=16)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def lambda_handler(event, context):
    with runtime.invocation(context):
        return kit.scheduled_job("sync_products", kit.for_erp("sync_products", jushuitan=sync_products,
                                                              wangdiantong=sync_erp_products), event)
