"""The 旺店通 ERP 企业版 connector (``openapi2``: sid + appkey + timestamp + sign, form posts).

- ``signing``: the sign (length-prefixed pairs, character lengths, MD5) and the form
- ``client``: ``WdtClient.call(name, params)``: one signed, paced call; clock skew; errors
- ``api``: ``WdtApi``: typed methods per interface, paging from 0, window limits, batches
- ``models``: pydantic models of the request and answer bodies
- ``rate_limit``: the shared per-account limiter speaking 旺店通
- ``errors``: what failed and whether to retry
"""

from .errors import ErrorPolicy, WdtAuthError, WdtPermanentError, WdtRateLimited, WdtTransientError

__all__ = ["ErrorPolicy", "WdtAuthError", "WdtPermanentError", "WdtRateLimited", "WdtTransientError"]
