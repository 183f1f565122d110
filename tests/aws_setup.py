"""Builds the template's tables and queues in whatever AWS boto3 points at (moto here).

The definitions come from template.yaml through the local stack's loader, so the tests
and the infrastructure cannot drift apart. ``template_aws`` is the moto world the fixtures
stand on (the root ``aws`` fixture and the packages' shared ones).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator


def create_template_resources() -> dict[str, str]:
    """Create every table and queue of template.yaml; returns the functions' environment."""
    from o2o_local.bootstrap import bootstrap, local_environment
    from o2o_local.template import load_template

    template = load_template()
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    bootstrap(template, endpoint or None)
    env = local_environment(template, endpoint or None)
    env.pop("AWS_ENDPOINT_URL", None)
    return env


@contextmanager
def template_aws(patch: Any, *tenants: Any) -> Iterator[dict[str, str]]:
    """moto's in-process AWS with the template's tables and queues, the functions' environment
    set through ``patch`` (a pytest MonkeyPatch), the runtime pointed at them and ``tenants``
    stored; yields the environment, and resets the runtime on the way out."""
    from moto import mock_aws

    from o2o_bridge import runtime

    patch.delenv("AWS_ENDPOINT_URL", raising=False)
    patch.delenv("O2O_LEDGER_DIR", raising=False)  # the template's bucket, not a local stack's files
    with mock_aws():
        names = create_template_resources()
        for var, value in names.items():
            patch.setenv(var, value)
        runtime.reset()
        for tenant in tenants:
            runtime.state_store().put(tenant)
        yield names
        runtime.reset()
