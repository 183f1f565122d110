"""boto3 clients aimed at the local endpoint (``endpoint_url=None``: wherever boto3 points,
e.g. moto's in-process mock)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3

from .names import local_defaults


def local_client(service: str, endpoint_url: str | None, environ: Mapping[str, str] | None = None) -> Any:
    defaults = local_defaults(environ)
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint_url,
        region_name=defaults["AWS_DEFAULT_REGION"],
        aws_access_key_id=defaults["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=defaults["AWS_SECRET_ACCESS_KEY"],
    )
