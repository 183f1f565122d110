"""Tenant secrets given as ``secretsmanager:NAME`` or ``secretsmanager:NAME#json_key``."""

from __future__ import annotations

import json
from typing import Any, Callable

from ...errors import ConfigurationError

PREFIX = "secretsmanager:"


class SecretsManagerResolver:
    """Resolves references through a Powertools SecretsProvider, cached for ``max_age`` seconds.

    The provider is given the container's shared Secrets Manager client (``make_client``: the
    runtime's ``aws_client``, called at the first read): left to itself, Powertools opens a boto3
    Session of its own, a second botocore session whose loader reads the endpoint, retry and
    model files again on every cold start (bench/cold_start.py)."""

    def __init__(self, make_client: Callable[[], Any] | None = None, max_age: int = 300) -> None:
        self.make_client, self.max_age = make_client, max_age
        self._provider: Any = None

    def provider(self) -> Any:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            if self.make_client is not None:
                self._provider = SecretsProvider(boto3_client=self.make_client())
            else:
                self._provider = SecretsProvider()
        return self._provider

    def clear_cache(self) -> None:
        """Forget the secrets read so far: the next read of each goes to Secrets Manager (the
        provider is this resolver's, so Powertools' ``parameters.clear_caches()`` does not reach it)."""
        if self._provider is not None:
            self._provider.clear_cache()

    def resolve(self, reference: str) -> str:
        from aws_lambda_powertools.utilities import parameters

        if not reference.startswith(PREFIX):
            raise ConfigurationError(f"secret reference must start with {PREFIX!r}")
        name, _, key = reference[len(PREFIX):].partition("#")
        try:
            value = self.provider().get(name, max_age=self.max_age)
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
