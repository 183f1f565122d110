"""Local resource names and the environment defaults of the local stack."""

from __future__ import annotations

import os
from collections.abc import Mapping

LOCAL_PREFIX = "o2o-local-"
LOCAL_STACK_NAME = "o2o-local"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_API_PORT = 3000  # like `sam local start-api`
DEFAULT_AWS_PORT = 5000  # moto server's own default

# Values the local stack puts into the environment. The AWS ones only fill in what is
# unset (an operator's region or dummy credentials win); the O2O ones always apply.
LOCAL_DEFAULT_ENV: dict[str, str] = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "O2O_STAGE": "local",
    "RETRY_BASE_DELAY_SECONDS": "1",
}
KEEP_IF_SET = frozenset({"AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"})


def local_name(logical_id: str) -> str:
    """Name of a template resource in the local stack: ``o2o-local-<LogicalId>``."""
    return f"{LOCAL_PREFIX}{logical_id}"


def local_bucket_name(logical_id: str) -> str:
    """S3 bucket names are lower case: ``o2o-local-ledgerbucket``."""
    return local_name(logical_id).lower()


def local_ledger_dir(endpoint_url: str) -> str:
    """Where the local stack at ``endpoint_url`` keeps its document ledger (files DuckDB reads):
    derived from the endpoint, so `o2o report` in another shell finds the stack's ledger."""
    import tempfile
    from pathlib import Path
    from urllib.parse import urlsplit

    where = urlsplit(endpoint_url)
    return str(Path(tempfile.gettempdir()) / "o2o-local-ledger" / f"{where.hostname}-{where.port}")


def local_defaults(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """LOCAL_DEFAULT_ENV with the AWS values already set in ``environ`` kept."""
    environ = os.environ if environ is None else environ
    values = dict(LOCAL_DEFAULT_ENV)
    for key in KEEP_IF_SET:
        if environ.get(key):
            values[key] = environ[key]
    if not environ.get("AWS_DEFAULT_REGION") and environ.get("AWS_REGION"):
        values["AWS_DEFAULT_REGION"] = environ["AWS_REGION"]
    values["AWS_REGION"] = values["AWS_DEFAULT_REGION"]
    return values


def local_region(environ: Mapping[str, str] | None = None) -> str:
    return local_defaults(environ)["AWS_DEFAULT_REGION"]
