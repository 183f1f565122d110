"""What `o2o ledger` and `o2o report` both ask: a business day given as an option, and where
the document ledger's files are.

The files: ``--ledger-dir``, else ``O2O_LEDGER_DIR``, else the local stack's when
``AWS_ENDPOINT_URL`` points at one; none of them means the deployed stack's (``O2O_STACK``),
which each command reads its own way (the ledger's bucket, Athena).
"""

from __future__ import annotations

import os
from datetime import date


def day_option(text: str, option: str) -> str:
    """``text`` as an ISO day; BadRequest naming ``option`` when it is not one."""
    from o2o_bridge.errors import BadRequest

    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise BadRequest(f"{option} {text!r} is not a day (YYYY-MM-DD)") from None


def ledger_files(ledger_dir: str | None) -> str | None:
    """The folder of the ledger's files, or None for the deployed stack's ledger."""
    directory = ledger_dir or os.environ.get("O2O_LEDGER_DIR")
    if not directory and os.environ.get("AWS_ENDPOINT_URL"):
        from o2o_local.names import local_ledger_dir

        directory = local_ledger_dir(os.environ["AWS_ENDPOINT_URL"])
    return directory or None
