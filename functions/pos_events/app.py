"""Store-system (店+) events: POST /pos/events (the store contract, docs/openapi/pos-api.yaml)."""

from o2o_bridge import idempotency, runtime, wiring
from o2o_bridge.events.dispatch import deliver
from o2o_bridge.observability import logger, metrics, traced
from o2o_bridge.outermost import contain_failures, json_internal_error
from o2o_bridge.web.answers import coded_resolver, json_response
from o2o_bridge.connectors.store.inbound import read_event, verify_signature

app = coded_resolver()


@app.post("/pos/events", middlewares=[verify_signature(runtime.state_store, runtime.secret_resolver)])
def pos_events():
    event, tenant = read_event(app)
    logger.append_keys(ent_id=event.ent_id, event_id=event.event_id, event_type=event.type)
    return json_response(200, deliver(event, tenant, context_for=wiring.context_for))


# Outermost but for the tracer, so X-Ray too sees only a failure without secrets (outermost.py).
@traced
@contain_failures(json_internal_error)
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    with runtime.invocation(context):
        idempotency.register_lambda_context(context)
        return app.resolve(event, context)


# The end of Lambda's init phase: a client for each AWS service this function's policies grant
# (tests/template checks the two agree), then the garbage collector back on (o2o_bridge/init_phase.py).
runtime.ready("dynamodb", "kms", "secretsmanager", "sqs")
