"""Tenant secrets given as ``secretsmanager:NAME`` or ``secretsmanager:NAME#json_key``."""

from __future__ import annotations

import json

from ...errors import ConfigurationError

PREFIX = "secretsmanager:"


class SecretsManagerResolver:
    """Resolves references through Powertools parameters, cached for ``max_age`` seconds."""

    def __init__(self, max_age: int = 300) -> None:
        self.max_age = max_age

    def resolve(self, reference: str) -> str:
        from aws_lambda_powertools.utilities import parameters

        if not reference.startswith(PREFIX):
            raise ConfigurationError(f"secret reference must start with {PREFIX!r}")
        name, _, key = reference[len(PREFIX):].partition("#")
        try:
            value = parameters.get_secret(name, max_age=self.max_age)
        except parameters.exceptions.GetParameterError as exc:
            # The library's message names the secret, never its value.
            raise ConfigurationError(f"cannot read secret {name!r}: {exc}") from None
        if not key:
            return str(value)
        try:
            return str(json.loads(value)[key])
        except (ValueError, KeyError, TypeError):
            raise ConfigurationError(f"secret {name!r} is not a JSON object with key {key!r}") from None


def write_secret(client, reference: str, value: str) -> None:
    """Store ``value`` under ``reference`` as a new version of its secret (``NAME#key``: that
    key of the JSON secret, its other keys kept). The operator's CLI only: no function may write
    a secret (tests/template/test_least_privilege.py)."""
    if not reference.startswith(PREFIX):
        raise ConfigurationError(f"secret reference must start with {PREFIX!r}")
    name, _, key = reference[len(PREFIX):].partition("#")
    if key:
        try:
            current = json.loads(client.get_secret_value(SecretId=name)["SecretString"])
        except (ValueError, KeyError, TypeError):
            raise ConfigurationError(f"secret {name!r} is not a JSON object: cannot set its key {key!r}") from None
        if not isinstance(current, dict):
            raise ConfigurationError(f"secret {name!r} is not a JSON object: cannot set its key {key!r}")
        value = json.dumps({**current, key: value})
    client.put_secret_value(SecretId=name, SecretString=value)
