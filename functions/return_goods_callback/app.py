"""S2r: JST pushes 售后收货 (refund.goods) to /jushuitan/return_goods_callback (the store contract, docs/openapi/pos-api.yaml)."""

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import warehouse_orders
from o2o_bridge.observability import logger, metrics, traced
from o2o_bridge.outermost import contain_failures, json_internal_error
from o2o_bridge.web.answers import JST_OK, coded_resolver, json_response
from o2o_bridge.connectors.jushuitan.inbound import read_push

app = coded_resolver()


@app.post("/jushuitan/return_goods_callback")
def return_goods_callback():
    push = read_push(app.current_event, runtime.state_store(), storage="shop")
    logger.append_keys(ent_id=push.ent_id)
    return_nos, order_nos, as_ids = push.named_receipts()
    # The push names a return; JST's own API says whether it was received.
    warehouse_orders.recheck_receipts(wiring.context_for(push.tenant), return_nos, order_nos=order_nos,
                                      warehouse_return_ids=as_ids, said=push.said_receipt())
    # Done, queued for retry or dead-lettered with its reason: JST may stop sending it.
    return json_response(200, JST_OK)


# Outermost but for the tracer, so X-Ray too sees only a failure without secrets (outermost.py).
@traced
@contain_failures(json_internal_error)
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    with runtime.invocation(context):
        return app.resolve(event, context)


# The end of Lambda's init phase: a client for each AWS service this function's policies grant
# (tests/template checks the two agree), then the garbage collector back on (o2o_bridge/init_phase.py).
runtime.ready("dynamodb", "kms", "secretsmanager", "sqs")
