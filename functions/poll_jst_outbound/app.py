"""Every 2 min: JST sales outbounds of the 店加线下仓 -> store fulfilment orders (S1, S1c)."""

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import kit, store_fulfilment
from o2o_bridge.observability import logger, metrics, traced
from o2o_bridge.outermost import contain_failures


# Outermost but for the tracer, so X-Ray too sees only a failure without secrets (outermost.py).
@traced
@contain_failures()
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    with runtime.invocation(context):
        return kit.scheduled_job("poll_jst_outbound", store_fulfilment.poll_jst_outbound, event, erp="jushuitan", build=wiring.context_for)


# The end of Lambda's init phase: a client for each AWS service this function's policies grant
# (tests/template checks the two agree), then the garbage collector back on (o2o_bridge/init_phase.py).
runtime.ready("dynamodb", "kms", "secretsmanager", "sqs")
