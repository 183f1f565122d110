"""RetryQueue consumer: runs each retry envelope again; partial batch responses."""

from o2o_bridge import runtime, wiring  # first: in Lambda it turns the garbage collector off for the init phase
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from o2o_bridge.observability import logger, metrics, traced
from o2o_bridge.outermost import contain_failures
from o2o_bridge.retry_worker import run_record

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record):
    run_record(wiring.retry_runner(), record.body)


# Outermost but for the tracer, so X-Ray too sees only a failure without secrets (outermost.py).
@traced
@contain_failures()
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    with runtime.invocation(context):
        return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


# The end of Lambda's init phase: a client for each AWS service this function's policies grant
# (tests/template checks the two agree), then the garbage collector back on (o2o_bridge/init_phase.py).
runtime.ready("dynamodb", "kms", "secretsmanager", "sqs")
