"""The environment functions see in the local stack (Globals resolved with local names)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

from .names import LOCAL_DEFAULT_ENV, local_defaults, local_ledger_dir
from .template import Template


def env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def local_refs(template: Template, endpoint_url: str | None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Template refs for the local stack: local names and URLs, parameter defaults, and the
    LOCAL_DEFAULT_ENV values for parameters that feed those variables (Stage -> local)."""
    defaults = local_defaults(environ)
    refs = template.refs(endpoint_url, region=defaults["AWS_DEFAULT_REGION"])
    for variable, value in template.global_environment.items():
        if variable in LOCAL_DEFAULT_ENV and isinstance(value, dict) and set(value) == {"Ref"}:
            if value["Ref"] in template.parameters:
                refs[value["Ref"]] = defaults[variable]
    return refs


def local_environment(template: Template, endpoint_url: str | None,
                      environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Globals.Function.Environment resolved for the local stack, plus AWS_ENDPOINT_URL,
    the region and (dummy unless set) credentials.

    ``endpoint_url=None`` (moto's in-process mock): queue URLs as moto's mock makes them
    (https://sqs.<region>.amazonaws.com/...) and no AWS_ENDPOINT_URL.

    Function-level variables are added too (one process runs every function); a variable
    two functions set differently keeps the Globals / first value, with a warning.
    """
    defaults = local_defaults(environ)
    refs = local_refs(template, endpoint_url, environ)
    env = {name: env_value(template.resolve(value, refs)) for name, value in template.global_environment.items()}
    for variable in ("O2O_STAGE", "RETRY_BASE_DELAY_SECONDS"):
        if variable in env:
            env[variable] = defaults[variable]
    for spec in template.functions.values():
        for name, value in spec.environment.items():
            resolved = env_value(template.resolve(value, refs))
            if name in env and env[name] != resolved:
                warnings.warn(f"{spec.name}: {name}={resolved!r} ignored, the local stack keeps {env[name]!r}",
                              stacklevel=2)
                continue
            env[name] = resolved
    for variable in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env[variable] = defaults[variable]
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url.rstrip("/")
        # The local stack keeps its ledger in files (DuckDB runs the reports over them), not in
        # the bucket; an O2O_LEDGER_DIR already set wins.
        env["O2O_LEDGER_DIR"] = (environ if environ is not None else os.environ).get("O2O_LEDGER_DIR") \
            or local_ledger_dir(endpoint_url)
    return env
