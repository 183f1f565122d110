"""03:30 Asia/Shanghai: each tenant's closed days of the document ledger merged into one object
per day (flows/ledger_compaction.py)."""

from datetime import datetime, timezone

from o2o_bridge import runtime, wiring
from o2o_bridge.flows import ledger_compaction
from o2o_bridge.observability import logger, metrics, traced
from o2o_bridge.outermost import contain_failures


# Outermost but for the tracer, so X-Ray too sees only a failure without secrets (outermost.py).
@traced
@contain_failures()
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event, context):
    runtime.lambda_context = context
    summary = ledger_compaction.compact_closed_days(wiring.compactable_ledger(), now=datetime.now(timezone.utc),
                                                    time_left=wiring.invocation_clock(context),
                                                    metric=wiring.count_metric)
    if summary["failed"]:
        logger.error("ledger days not compacted", extra={"failed": summary["failed"]})
    return summary
