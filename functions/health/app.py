"""GET /health: the bridge answers and says which version and stage it runs."""

import os

import o2o_bridge  # first: in Lambda it turns the garbage collector off for the init phase

from o2o_bridge import runtime
from o2o_bridge.web.http import HttpResolver
from o2o_bridge.outermost import contain_failures, json_internal_error
from o2o_bridge.tracing import traced

app = HttpResolver()


@app.get("/health")
def health():
    return {"status": "ok", "service": "o2o-bridge", "version": o2o_bridge.__version__, "stage": os.environ.get("O2O_STAGE", "dev")}


@traced
@contain_failures(json_internal_error)
def lambda_handler(event, context):
    return app.resolve(event, context)


# The end of Lambda's init phase: a client for each AWS service this function's policies grant
# (tests/template checks the two agree), then the garbage collector back on (o2o_bridge/init_phase.py).
runtime.ready()
