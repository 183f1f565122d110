"""Tenant secrets kept in Secrets Manager are read through their reference, and a bad
reference says which secret is wrong without printing any value."""

import json

import boto3
import pytest

from o2o_bridge.connectors.aws.secrets_manager import SecretsManagerResolver
from o2o_bridge.errors import ConfigurationError
from o2o_bridge.tenant import parse_tenant
from test_tenant_model import demo_doc


@pytest.fixture
def secrets(aws):
    client = boto3.client("secretsmanager")
    client.create_secret(Name="o2o/10010", SecretString=json.dumps({"app_secret": "from-sm-secret", "api_key": "sm-pos-key"}))
    client.create_secret(Name="o2o/plain", SecretString="plain-secret-value")
    return SecretsManagerResolver(max_age=0)


def test_references_resolve_to_the_whole_secret_or_one_json_key(secrets):
    doc = demo_doc()
    doc["jushuitan"].pop("app_secret")
    doc["jushuitan"]["app_secret_ref"] = "secretsmanager:o2o/10010#app_secret"
    doc["pos"].pop("api_key")
    doc["pos"]["api_key_ref"] = "secretsmanager:o2o/plain"
    tenant = parse_tenant(doc)
    assert tenant.jushuitan.reveal("app_secret", secrets) == "from-sm-secret"
    assert tenant.pos.reveal("api_key", secrets) == "plain-secret-value"
    assert tenant.pos.reveal("webhook_secret", secrets) == "demo-webhook-secret"  # inline still works
    assert "from-sm-secret" not in str(tenant.to_display())


def test_a_missing_secret_or_key_is_a_configuration_error_naming_it(secrets):
    with pytest.raises(ConfigurationError, match="cannot read secret 'o2o/absent'"):
        secrets.resolve("secretsmanager:o2o/absent")
    with pytest.raises(ConfigurationError, match="not a JSON object with key 'nope'") as caught:
        secrets.resolve("secretsmanager:o2o/10010#nope")
    assert "from-sm-secret" not in str(caught.value)
