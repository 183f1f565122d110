"""03:30 Asia/Shanghai: each tenant's closed days of the document ledger merged into one object
per day (flows/ledger_compaction.py)."""

from datetime import datetime, timezone

from o2o_bridge import runtime
from o2o_bridge.flows import ledger_compaction
from o2o_bridge.observability import logger, metrics, traced


def _time_left() -> float:
    context = runtime.lambda_context
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return float("inf")
    return context.get_remaining_time_in_millis() / 1000


def _metric(name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit="Count", value=value)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@traced
def lambda_handler(event, context):
    runtime.lambda_context = context
    summary = ledger_compaction.compact_closed_days(runtime.ledger(), now=datetime.now(timezone.utc),
                                                    time_left=_time_left, metric=_metric)
    if summary["failed"]:
        logger.error("ledger days not compacted", extra={"failed": summary["failed"]})
    return summary
