"""Per-container infrastructure: settings, AWS clients and the AWS adapters, each built once
and reused. What each Lambda's flows get per tenant is composed in wiring.py.

Nothing here runs at import time; the first use builds it. Tests reset it with
``runtime.reset()`` after changing the environment.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from . import init_phase
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
    init_phase.end()  # the collector is on for requests, even if the handler module never said it was ready
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


# The service models the bridge's clients load first (scripts/trim_botocore_models.py): the
# installed botocore's, cut to the operations the code calls. A client builds its whole model,
# so the full S3 or DynamoDB model would cost every cold start several times what the bridge uses.
BOTOCORE_MODELS = Path(__file__).parent / "connectors" / "aws" / "botocore_models"


# Called with each session aws_session builds: how bench/cost.py and the request ceilings test count
# every AWS request the bridge makes from outside it (botocore events), across runtime.reset().
session_listeners: list[Callable[[Any], None]] = []


@functools.cache
def aws_session() -> Any:
    """The one boto3 session of the container; its loader reads BOTOCORE_MODELS before botocore's
    own data (services without a trimmed model, rule sets, paginators come from botocore)."""
    import os

    import boto3  # deferred: the import is the largest part of a cold start
    import botocore.session

    core = botocore.session.get_session()
    # Before the loader exists: botocore builds it from data_path when first asked for it.
    core.set_config_variable("data_path", os.pathsep.join(
        [str(BOTOCORE_MODELS), *filter(None, [core.get_config_variable("data_path")])]))
    session = boto3.Session(botocore_session=core)
    for listen in session_listeners:
        listen(session)
    return session


@functools.cache
def aws_client(service: str) -> Any:
    return aws_session().client(service)


def ready(*services: str) -> None:
    """The last statement of a handler module, the end of Lambda's init phase (init_phase.py):
    a client for each AWS service the function's policies grant, built while the garbage
    collector is off, then the collector back on. Outside Lambda it does nothing."""
    if not init_phase.pending():
        return
    try:
        for service in services:
            # Secrets Manager as the bridge reads it: the secret resolver's Powertools provider
            # over the shared client (the provider's import is part of that client's cost).
            if service == "secretsmanager":
                secret_resolver().provider()
            else:
                aws_client(service)
    except Exception:  # noqa: BLE001 - the init goes on: the first use builds the client again, and fails loudly
        from .observability import logger

        logger.warning("could not build the AWS clients at init; the first use will", exc_info=True)
    finally:
        init_phase.end()


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
    """The document ledger this container appends facts to: the ledger queue (LEDGER_QUEUE_URL),
    which the ledger writer stores a batch at a time; else the store itself (below)."""
    config = settings()
    if config.ledger_queue_url:
        from .connectors.aws.sqs_ledger import SqsLedger

        return SqsLedger(aws_client("sqs"), config.ledger_queue_url)
    if config.ledger_dir or config.ledger_bucket:
        return ledger_store()
    return _NoLedger()


@functools.cache
def ledger_store():
    """Where the ledger's objects are (the ledger writer's and compact_ledger's): files locally, else S3."""
    config = settings()
    if config.ledger_dir:
        from .connectors.files.ledger import FileLedger

        return FileLedger(config.ledger_dir)
    if config.ledger_bucket:
        from .connectors.aws.s3_ledger import S3Ledger

        return S3Ledger(aws_client("s3"), config.ledger_bucket)
    from .errors import ConfigurationError

    raise ConfigurationError("no ledger to store facts in: template.yaml gives the ledger writer and compact_ledger "
                             "LEDGER_BUCKET (O2O_LEDGER_DIR in the local stack)")


class _NoLedger:
    """A function the template gives no LEDGER_QUEUE_URL has no business appending facts."""

    def append(self, fact):
        from .errors import ConfigurationError

        raise ConfigurationError(f"cannot record {fact.kind} {fact.key}: this function has no LEDGER_QUEUE_URL "
                                 "(template.yaml)")


@functools.cache
def secret_resolver():
    from .connectors.aws.secrets_manager import SecretsManagerResolver

    return SecretsManagerResolver(lambda: aws_client("secretsmanager"))  # the shared client, at the first read


def reset() -> None:
    """Forget everything built so far (tests, and the local stack after a re-bootstrap)."""
    for cached in (settings, aws_session, aws_client, state_store, command_queue, cursors, records, ledger, ledger_store,
                   secret_resolver):
        cached.cache_clear()
