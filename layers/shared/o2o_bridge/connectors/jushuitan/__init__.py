"""The Jushuitan (JST) open-platform adapter (JST's open-platform documentation).

- ``signing``: the openweb sign and the old push sign
- ``client``: ``JstClient.call(path, biz)``: one signed, paced call with token renewal
- ``api``: ``JstApiAdapter``: typed methods per endpoint (implements ``ports.JstApi``)
- ``models``: pydantic models of the request and response bodies
- ``paging``: ts-cursor scans, 7-day windows, dedupe, batches
- ``tokens``: the current token per tenant (``TOKEN#<ent_id>``), renewal
- ``rate_limit``: per-app pacing across containers (a sliding log ``RATE#<app_key>``/``LOG`` by default, or fixed windows)
- ``push``: JST push bodies and their authentication
- ``errors``: what failed and whether to retry
- ``factory``: ``jst_for_tenant(tenant)`` wired from the runtime
- ``doctor``: ``check_tenant(tenant, jst)`` for ``o2o tenant doctor``
"""

from .errors import ErrorPolicy, JstAuthError, JstPermanentError, JstRateLimited, JstTransientError

__all__ = ["ErrorPolicy", "JstAuthError", "JstPermanentError", "JstRateLimited", "JstTransientError"]
