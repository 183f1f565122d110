"""RetryQueue consumer: runs each retry envelope again; partial batch responses."""

from o2o_bridge import runtime, wiring  # first: in Lambda it turns the garbage collector off for the init phase
from o2o_bridge.observability import logger, metrics, traced
from o2o_bridge.outermost import contain_failures
from o2o_bridge.retry_worker import partial_batch_response, run_record


def record_handler(body: str) -> None:
    run_record(wiring.retry_runner(), body)


# Outermost but for the tracer, so X-Ray too sees only a failure without secrets (outermost.py).
@traced
@contain_failures()
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    with runtime.invocation(context):
        return partial_batch_response(event, record_handler)


# The end of Lambda's init phase: a client for each AWS service this function's policies grant
# (tests/template checks the two agree), then the garbage collector back on (o2o_bridge/init_phase.py).
runtime.ready("dynamodb", "kms", "secretsmanager", "sqs")
