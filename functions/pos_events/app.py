"""Store-system (店+) events: POST /pos/events (pos-contract.md)."""

from o2o_bridge import runtime
from o2o_bridge.errors import NotImplementedYet
from o2o_bridge.observability import logger, metrics
from o2o_bridge.web.answers import coded_resolver
from o2o_bridge.web.pos_event import read_event

app = coded_resolver()


@app.post("/pos/events")
def pos_events():
    event = read_event(app.current_event, runtime.state_store())
    logger.append_keys(ent_id=event.ent_id, event_id=event.event_id, event_type=event.type)
    # Not acknowledged (501) so the store system keeps the event and sends it again later.
    raise NotImplementedYet(f"signature verification and the {event.type} flow", issue=4)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    return app.resolve(event, context)
