"""Powertools Logger and Metrics shared by every function, and the Tracer wrapper (configured by POWERTOOLS_* env)."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics

from .redaction import RedactingFilter, redacting_formatter
from .tracing import traced

# An invocation that refuses its input or finds no work publishes no business metric;
# that is normal here, not a mistake worth a warning on every such call.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

# The formatter masks every field and the traceback; the filter also covers other handlers.
logger = Logger(logger_formatter=redacting_formatter())
logger.addFilter(RedactingFilter())
metrics = Metrics()

# ``traced`` lives in .tracing (it imports nothing heavy, so a handler without logger or metrics
# can take it alone); the handlers take it from here with the logger and metrics.
__all__ = ["logger", "metrics", "traced"]
