"""Cloud-warehouse (奇门 WMS) calls: POST /qimen/callback — confirmations and stock reports."""

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import cloud_warehouse
from o2o_bridge.observability import logger, metrics, traced
from o2o_bridge.outermost import contain_failures
from o2o_bridge.web.qimen_callback import qimen_answer, qimen_internal_error, qimen_resolver, read_call

app = qimen_resolver()


@app.post("/qimen/callback")
def qimen_callback():
    call = read_call(app.current_event, runtime.state_store(), runtime.secret_resolver())
    logger.append_keys(ent_id=call.tenant.ent_id, qimen_method=call.method)
    result = cloud_warehouse.on_wms_message(call, wiring.context_for(call.tenant))
    return qimen_answer("success", "0", "taken before" if result["outcome"] == "repeated" else "ok")


# Outermost but for the tracer, so X-Ray too sees only a failure without secrets (outermost.py).
@traced
@contain_failures(qimen_internal_error)
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    with runtime.invocation(context):
        return app.resolve(event, context)


# The end of Lambda's init phase: a client for each AWS service this function's policies grant
# (tests/template checks the two agree), then the garbage collector back on (o2o_bridge/init_phase.py).
runtime.ready("dynamodb", "kms", "secretsmanager", "sqs")
