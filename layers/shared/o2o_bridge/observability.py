"""Powertools Logger and Metrics shared by every function (configured by POWERTOOLS_* env)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

from .redaction import RedactingFilter

logger = Logger()
logger.addFilter(RedactingFilter())
metrics = Metrics()
