"""Deployment settings, read once per container from the environment `template.yaml` sets."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from .errors import ConfigurationError


@dataclass(frozen=True)
class Settings:
    state_table: str
    idempotency_table: str
    retry_queue_url: str
    retry_dlq_url: str
    stage: str = "dev"
    retry_max_attempts: int = 8
    retry_base_delay_seconds: int = 30
    # Set by `o2o local drain --now`: re-enqueued retries skip their backoff delay.
    retry_no_delay: bool = False
    # The document ledger: the functions that record facts send them to the ledger queue
    # (LEDGER_QUEUE_URL); the ledger writer and compact_ledger store them in S3 (LEDGER_BUCKET),
    # the local stack in files (O2O_LEDGER_DIR, which wins when both are set).
    ledger_queue_url: str | None = None
    ledger_bucket: str | None = None
    ledger_dir: str | None = None
    # The KMS key (id, ARN or alias) JST tokens are encrypted with at rest.
    token_key_id: str = ""
    # How long a container keeps a tenant's configuration before reading it again: a changed
    # tenant file takes effect within this. `make demo` sets 0 (it changes the tenant mid-run).
    tenant_cache_seconds: float = 60.0

    _REQUIRED = {
        "state_table": "STATE_TABLE",
        "idempotency_table": "IDEMPOTENCY_TABLE",
        "retry_queue_url": "RETRY_QUEUE_URL",
        "retry_dlq_url": "RETRY_DLQ_URL",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        missing = [var for var in cls._REQUIRED.values() if not env.get(var)]
        if missing:
            raise ConfigurationError(
                "missing environment variable(s) " + ", ".join(missing)
                + ": template.yaml sets them in AWS; locally run `o2o local up` or export them"
            )
        try:
            return cls(
                **{field: env[var] for field, var in cls._REQUIRED.items()},
                stage=env.get("O2O_STAGE", "dev"),
                retry_max_attempts=int(env.get("RETRY_MAX_ATTEMPTS", "8")),
                retry_base_delay_seconds=int(env.get("RETRY_BASE_DELAY_SECONDS", "30")),
                retry_no_delay=env.get("O2O_RETRY_NO_DELAY", "") in {"1", "true", "yes"},
                ledger_queue_url=env.get("LEDGER_QUEUE_URL") or None,
                ledger_bucket=env.get("LEDGER_BUCKET") or None,
                ledger_dir=env.get("O2O_LEDGER_DIR") or None,
                token_key_id=env.get("TOKEN_KEY_ID", ""),
                tenant_cache_seconds=float(env.get("O2O_TENANT_CACHE_SECONDS", "60")),
            )
        except ValueError as exc:
            raise ConfigurationError("RETRY_MAX_ATTEMPTS / RETRY_BASE_DELAY_SECONDS must be integers and "
                                     f"O2O_TENANT_CACHE_SECONDS a number: {exc}") from exc
