"""03:30 Asia/Shanghai: each tenant's closed days of the document ledger merged into one object
per day (flows/ledger_compaction.py).

The firing fans out one run per tenant onto the function's own FIFO queue; each run compacts
its tenant's days (kit.scheduled_job). Compaction calls no ERP, so its runs take no ERP-app slot."""

from datetime import datetime, timezone

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import kit, ledger_compaction
from o2o_bridge.observability import logger, metrics, traced
from o2o_bridge.outermost import contain_failures


# Outermost but for the tracer, so X-Ray too sees only a failure without secrets (outermost.py).
@traced
@contain_failures()
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    with runtime.invocation(context):
        return kit.scheduled_job("compact_ledger", compact_tenant, event, build=lambda tenant: tenant.ent_id,
                                 erp_app_slots=False)


def compact_tenant(ent_id: str) -> dict:
    return ledger_compaction.compact_tenant(wiring.compactable_ledger(), ent_id, now=datetime.now(timezone.utc),
                                            time_left=wiring.invocation_clock(runtime.lambda_context()),
                                            metric=wiring.count_metric)


# The end of Lambda's init phase: a client for each AWS service this function's policies grant
# (tests/template checks the two agree), then the garbage collector back on (o2o_bridge/init_phase.py).
runtime.ready("dynamodb", "s3", "sqs")
