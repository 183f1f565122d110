"""02:10 Asia/Shanghai: the day's changed stock in one direction (JST: S4, S4e; 旺店通: W5 by stock.master).

Plans (or resumes) each tenant's run and fans its chunks out through the retry queue; the
retry worker pushes them (flows/stock_nightly.py)."""

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import erp_stock, kit, stock_nightly, stock_sync
from o2o_bridge.observability import logger, metrics, traced
from o2o_bridge.outermost import contain_failures

# Outermost but for the tracer, so X-Ray too sees only a failure without secrets (outermost.py).
@traced
@contain_failures()
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    with runtime.invocation(context):
        return kit.scheduled_job("nightly_stock_push", kit.for_erp("nightly_stock_push", jushuitan=nightly,
                                                                   wangdiantong=erp_stock.nightly_erp_stock), event, build=wiring.context_for)


def nightly(ctx):
    """The nightly comparison (S4, S4e); a cloud-warehouse tenant's WMS stock is read again first
    (Q5: 奇门 has no "changed since" read, so the hourly read is repeated at 02:10 too)."""
    wms = stock_sync.pull_jst_stock(ctx) if ctx.tenant.warehouse == "qimen" else None
    result = stock_nightly.nightly_stock_push(ctx) or {}
    return {**result, "qimen": wms} if wms is not None else result


# The end of Lambda's init phase: a client for each AWS service this function's policies grant
# (tests/template checks the two agree), then the garbage collector back on (o2o_bridge/init_phase.py).
runtime.ready("dynamodb", "kms", "secretsmanager", "sqs")
