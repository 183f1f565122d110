"""Per-container infrastructure: settings, AWS clients and the AWS adapters, each built once
and reused. What each Lambda's flows get per tenant is composed in wiring.py.

Nothing here runs at import time; the first use builds it. Tests reset it with
``runtime.reset()`` after changing the environment.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any, Iterator

from .settings import Settings

# Per thread: the local stack serves requests in threads beside the CLI's own work, and one
# invocation ending must not put back (or take away) another thread's.
_this_thread = threading.local()


def lambda_context() -> Any:
    """The Lambda context of the invocation this thread serves; None outside one."""
    return getattr(_this_thread, "context", None)


def seconds_left() -> float:
    """Seconds the invocation this thread serves may still run (unbounded outside one)."""
    context = lambda_context()
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return float("inf")
    return context.get_remaining_time_in_millis() / 1000


@contextlib.contextmanager
def invocation(context: Any) -> Iterator[None]:
    """One Lambda invocation: its context is known to the flows (remaining time, leases), and the
    timeline entries its flows record are written together when it ends (one request, not one
    per entry). Nothing is built or imported here beyond what the handler uses anyway."""
    # Only for this invocation: work after it (the next warm invocation's cold paths, a test's own
    # flows in the same process) must not read an ended invocation's remaining time.
    previous, _this_thread.context = lambda_context(), context
    from .connectors.aws.held import timeline_held

    try:
        with timeline_held():
            yield
    finally:
        _this_thread.context = previous


@functools.cache
def settings() -> Settings:
    return Settings.from_env()


@functools.cache
def aws_client(service: str) -> Any:
    import boto3  # deferred: the import is the largest part of a cold start

    return boto3.client(service)


@functools.cache
def state_store():
    from .connectors.aws.dynamodb_state import DynamoStateStore

    return DynamoStateStore(aws_client("dynamodb"), settings().state_table,
                            tenant_cache_seconds=settings().tenant_cache_seconds)


@functools.cache
def command_queue():
    from .connectors.aws.sqs_queue import SqsCommandQueue

    return SqsCommandQueue(aws_client("sqs"), settings().retry_queue_url, settings().retry_dlq_url)


def tenant_runs(job: str):
    """The FIFO queue of ``job``'s tenant runs (its scheduled function's own queue). Each
    function sets ``<JOB>_RUNS_QUEUE_URL``: one local process runs every function, so the
    names must differ."""
    import os

    from .connectors.aws.tenant_runs import SqsTenantRuns
    from .errors import ConfigurationError

    variable = tenant_runs_variable(job)
    url = os.environ.get(variable)
    if not url:
        raise ConfigurationError(f"{variable} is not set: template.yaml gives {job}'s function the URL of its "
                                 "tenant-runs queue")
    return SqsTenantRuns(aws_client("sqs"), url)


def tenant_runs_variable(job: str) -> str:
    return f"{job.upper()}_RUNS_QUEUE_URL"


@functools.cache
def cursors():
    """The poll cursors over StateTable (bridge-wide ones too, e.g. a schedule's turn)."""
    from .connectors.aws.dynamodb_state import CursorView

    return CursorView(state_store())


@functools.cache
def records():
    """Records over StateTable (bridge-wide ones too, e.g. a scheduled job's ERP-app slots)."""
    from .connectors.aws.dynamodb_state import RecordView

    return RecordView(state_store())


@functools.cache
def ledger():
    """The document ledger this container appends facts to (files locally, else S3)."""
    config = settings()
    if config.ledger_dir:
        from .connectors.files.ledger import FileLedger

        return FileLedger(config.ledger_dir)
    if config.ledger_bucket:
        from .connectors.aws.s3_ledger import S3Ledger

        return S3Ledger(aws_client("s3"), config.ledger_bucket)
    return _NoLedger()


class _NoLedger:
    """A function the template gives no LEDGER_BUCKET has no business appending facts."""

    def append(self, fact):
        from .errors import ConfigurationError

        raise ConfigurationError(f"cannot record {fact.kind} {fact.key}: this function has no LEDGER_BUCKET "
                                 "(template.yaml) and no O2O_LEDGER_DIR (local stack)")


@functools.cache
def secret_resolver():
    from .connectors.aws.secrets_manager import SecretsManagerResolver

    return SecretsManagerResolver(lambda: aws_client("secretsmanager"))  # the shared client, at the first read


def reset() -> None:
    """Forget everything built so far (tests, and the local stack after a re-bootstrap)."""
    for cached in (settings, aws_client, state_store, command_queue, cursors, records, ledger, secret_resolver):
        cached.cache_clear()
