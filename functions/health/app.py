"""GET /health: the bridge answers and says which version and stage it runs."""

import os

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

import o2o_bridge
from o2o_bridge.outermost import contain_failures, json_internal_error
from o2o_bridge.tracing import traced

app = APIGatewayHttpResolver()


@app.get("/health")
def health():
    return {"status": "ok", "service": "o2o-bridge", "version": o2o_bridge.__version__, "stage": os.environ.get("O2O_STAGE", "dev")}


@traced
@contain_failures(json_internal_error)
def lambda_handler(event, context):
    return app.resolve(event, context)
