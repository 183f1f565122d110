"""Hourly: JST warehouse stock by ts cursor -> 店+ warehouse stock (S3, S4e); a cloud WMS's stock
(Q5) for JST and 旺店通 tenants alike (a 旺店通 tenant's own store stock is its 02:10 run's, W5)."""

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import kit, stock_sync
from o2o_bridge.observability import logger, metrics, traced
from o2o_bridge.outermost import contain_failures


# Outermost but for the tracer, so X-Ray too sees only a failure without secrets (outermost.py).
@traced
@contain_failures()
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    with runtime.invocation(context):
        return kit.scheduled_job("pull_jst_stock", kit.for_erp("pull_jst_stock", jushuitan=stock_sync.pull_jst_stock,
                                                               wangdiantong=stock_sync.pull_warehouse_stock), event,
                                 build=wiring.context_for)


# The end of Lambda's init phase: a client for each AWS service this function's policies grant
# (tests/template checks the two agree), then the garbage collector back on (o2o_bridge/init_phase.py).
runtime.ready("dynamodb", "kms", "secretsmanager", "sqs")
