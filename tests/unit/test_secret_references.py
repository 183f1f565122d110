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
    client.create_secret(Name="o2o/tenants/10010/jst", SecretString=json.dumps({"app_secret": "from-sm-secret", "api_key": "sm-pos-key"}))
    client.create_secret(Name="o2o/tenants/10010/plain", SecretString="plain-secret-value")
    return SecretsManagerResolver(max_age=0)


def test_references_resolve_to_the_whole_secret_or_one_json_key(secrets):
    doc = demo_doc()
    doc["jushuitan"].pop("app_secret")
    doc["jushuitan"]["app_secret_ref"] = "secretsmanager:o2o/tenants/10010/jst#app_secret"
    doc["pos"].pop("api_key")
    doc["pos"]["api_key_ref"] = "secretsmanager:o2o/tenants/10010/plain"
    tenant = parse_tenant(doc)
    assert tenant.jushuitan.reveal("app_secret", secrets) == "from-sm-secret"
    assert tenant.pos.reveal("api_key", secrets) == "plain-secret-value"
    assert tenant.pos.reveal("webhook_secret", secrets) == "demo-webhook-secret"  # inline still works
    assert "from-sm-secret" not in str(tenant.to_display())


def test_a_missing_secret_or_key_is_a_configuration_error_naming_it(secrets):
    with pytest.raises(ConfigurationError, match="cannot read secret 'o2o/absent'"):
        secrets.resolve("secretsmanager:o2o/absent")
    with pytest.raises(ConfigurationError, match="not a JSON object with key 'nope'") as caught:
        secrets.resolve("secretsmanager:o2o/tenants/10010/jst#nope")
    assert "from-sm-secret" not in str(caught.value)


def test_a_tenant_may_only_name_secrets_under_its_own_path():
    doc = demo_doc()
    doc["jushuitan"]["callback"] = {"partner_key_ref": "secretsmanager:o2o/tenants/20020/jst#partner_key"}
    with pytest.raises(Exception, match="under o2o/tenants/10010/"):
        parse_tenant(doc)
    for elsewhere in ("secretsmanager:o2o/10010/jst#partner_key", "secretsmanager:prod/db#password",
                      "secretsmanager:o2o/tenants/100100/jst#partner_key"):
        doc["jushuitan"]["callback"] = {"partner_key_ref": elsewhere}
        with pytest.raises(Exception, match="under o2o/tenants/10010/"):
            parse_tenant(doc)
    doc["jushuitan"]["callback"] = {"partner_key_ref": "secretsmanager:o2o/tenants/10010/jst#partner_key"}
    assert parse_tenant(doc).jushuitan.callback.partner_key_ref.endswith("#partner_key")


def test_tenant_put_refuses_inline_secrets_against_a_deployed_stack(aws, tmp_path, capsys, monkeypatch):
    import yaml

    from o2o_bridge import runtime
    from o2o_bridge.cli import main as o2o

    path = tmp_path / "10010.yaml"
    path.write_text(yaml.safe_dump(demo_doc(), allow_unicode=True), encoding="utf-8")
    assert o2o(["tenant", "put", str(path)]) == 2  # the aws fixture: real AWS names, no local endpoint
    err = capsys.readouterr().err
    assert "inline secrets are for the local stack only" in err and "jushuitan.app_secret: inline" in err
    assert "demo-app-secret" not in err
    assert runtime.state_store().get("10010") is None
    doc = demo_doc()
    refs = {"jushuitan": ("app_secret", "access_token", "refresh_token"), "pos": ("api_key", "webhook_secret")}
    for section, names in refs.items():
        for name in names:
            doc[section].pop(name)
            doc[section][f"{name}_ref"] = f"secretsmanager:o2o/tenants/10010/{section}#{name}"
    doc["jushuitan"]["callback"] = {"partner_key_ref": "secretsmanager:o2o/tenants/10010/jushuitan#partner_key"}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    assert o2o(["tenant", "put", str(path)]) == 0
    assert runtime.state_store().get("10010").jushuitan.app_secret_ref.startswith("secretsmanager:o2o/tenants/10010/")


def test_the_containers_resolver_reads_through_its_one_shared_secrets_manager_client(aws):
    # A second boto3 session would read botocore's endpoint and model files again at every cold start.
    from o2o_bridge import runtime

    boto3.client("secretsmanager").create_secret(Name="o2o/tenants/10010/plain", SecretString="plain-secret-value")
    resolver = runtime.secret_resolver()
    assert resolver.resolve("secretsmanager:o2o/tenants/10010/plain") == "plain-secret-value"
    assert resolver.provider().client is runtime.aws_client("secretsmanager")
