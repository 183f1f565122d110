"""Hourly: JST warehouse stock by ts cursor -> 店+ warehouse stock (S3, S4e); a cloud-warehouse
tenant's WMS stock read again (Q5)."""

from o2o_bridge import runtime
from o2o_bridge.flows import cloud_warehouse, kit, stock_sync
from o2o_bridge.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    runtime.lambda_context = context
    return kit.run_for_tenants("pull_jst_stock", hourly_warehouse_stock, log=logger.info)


def hourly_warehouse_stock(ctx):
    """JST's warehouse stock (S3, S4e); for a cloud-warehouse tenant also the WMS's (Q5)."""
    result = stock_sync.pull_jst_stock(ctx) or {}
    if ctx.tenant.warehouse == "qimen":
        result = {**result, "qimen": cloud_warehouse.read_all_stock(ctx)}
    return result
