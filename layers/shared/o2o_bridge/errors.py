"""The error vocabulary of the bridge: every failure says whether retrying can help.

Flows and adapters raise these; handlers turn them into the caller's answer format and
the retry worker decides between "try again later" and "dead-letter with the reason".
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""

    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransientError(BridgeError):
    """A downstream hiccup (timeout, 5xx, rate limit): the same call may succeed later."""

    retryable = True

    def __init__(self, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class PermanentError(BridgeError):
    """Retrying the same call cannot succeed: bad data, missing permission, unknown id."""


class ConfigurationError(PermanentError):
    """The deployment or a tenant is misconfigured (missing variable, bad mapping)."""


class NotImplementedYet(PermanentError):
    """A path of the design whose flow has not been built yet.

    It fails loudly instead of pretending success, and names the issue that builds it.
    """

    def __init__(self, what: str, issue: int | tuple[int, ...]) -> None:
        issues = (issue,) if isinstance(issue, int) else tuple(issue)
        named = ", ".join(f"#{number}" for number in issues)
        super().__init__(f"{what} is not implemented yet (it comes with issue{'s' if len(issues) > 1 else ''} "
                         f"{named}); nothing was done")
        self.what = what
        self.issues = issues
        self.issue = issues[0]


class BadRequest(PermanentError):
    """The caller sent something malformed; answered 4xx and nothing is written."""

    status_code = 400


class UnprocessableRequest(BadRequest):
    status_code = 422


class Unauthorized(BadRequest):
    status_code = 401


class Forbidden(BadRequest):
    status_code = 403


class UnknownTenant(BadRequest):
    status_code = 404

    def __init__(self, ent_id: str) -> None:
        super().__init__(f"unknown entId {ent_id!r}: no tenant is registered under it")
        self.ent_id = ent_id
