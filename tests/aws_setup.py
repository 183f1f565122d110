"""Builds the template's tables and queues in whatever AWS boto3 points at (moto here).

The definitions come from template.yaml through the local stack's loader, so the tests
and the infrastructure cannot drift apart.
"""

from __future__ import annotations

import os


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
