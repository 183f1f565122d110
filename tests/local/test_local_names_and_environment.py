"""Local names, defaults and the resolved environment of the fixture template."""

from __future__ import annotations

import warnings

from o2o_local.environment import local_environment
from o2o_local.names import LOCAL_DEFAULT_ENV, local_defaults, local_ledger_dir, local_name


def test_local_name():
    assert local_name("StateTable") == "o2o-local-StateTable"


def test_defaults_keep_the_operators_aws_values():
    assert LOCAL_DEFAULT_ENV["O2O_STAGE"] == "local" and LOCAL_DEFAULT_ENV["RETRY_BASE_DELAY_SECONDS"] == "1"
    assert local_defaults({})["AWS_DEFAULT_REGION"] == "us-east-1"
    mine = local_defaults({"AWS_DEFAULT_REGION": "ap-east-1", "AWS_ACCESS_KEY_ID": "me", "O2O_STAGE": "prod"})
    assert (mine["AWS_DEFAULT_REGION"], mine["AWS_REGION"], mine["AWS_ACCESS_KEY_ID"]) == ("ap-east-1", "ap-east-1", "me")
    assert mine["AWS_SECRET_ACCESS_KEY"] == "testing" and mine["O2O_STAGE"] == "local"
    assert local_defaults({"AWS_REGION": "eu-west-1"})["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_fixture_environment(fixture_template):
    env = local_environment(fixture_template, "http://127.0.0.1:4999/", environ={})
    assert env == {
        "STATE_TABLE": "o2o-local-StateTable",
        "IDEMPOTENCY_TABLE": "o2o-local-IdempotencyTable",
        "WORK_QUEUE_URL": "http://127.0.0.1:4999/123456789012/o2o-local-WorkQueue",
        "WORK_DLQ_URL": "http://127.0.0.1:4999/123456789012/o2o-local-WorkDLQ",
        "O2O_STAGE": "local",
        "RETRY_BASE_DELAY_SECONDS": "1",
        "RETRY_MAX_ATTEMPTS": "8",
        "LOG_MODE": "verbose",
        "STATE_TABLE_ARN": "arn:aws:dynamodb:us-east-1:123456789012:table/o2o-local-StateTable",
        # the Stage parameter follows O2O_STAGE everywhere it is used
        "GREETING": "hello from o2o-local (local) in us-east-1",
        "JOINED": "svc-local-b",
        "POWERTOOLS_SERVICE_NAME": "fixture",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4999",
        # the document ledger as files DuckDB reads, found again from the endpoint by `o2o report`
        "O2O_LEDGER_DIR": local_ledger_dir("http://127.0.0.1:4999/"),
    }


def test_environment_without_endpoint_matches_motos_in_process_mock(fixture_template):
    env = local_environment(fixture_template, None, environ={})
    assert env["WORK_QUEUE_URL"] == "https://sqs.us-east-1.amazonaws.com/123456789012/o2o-local-WorkQueue"
    assert "AWS_ENDPOINT_URL" not in env


def test_function_variables_are_added_and_conflicts_warned(fixture_template):
    import copy

    template = copy.deepcopy(fixture_template)
    template.functions["echo"].environment = {"ECHO_ONLY": "x", "STATE_TABLE": "other"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = local_environment(template, "http://127.0.0.1:1", environ={})
    assert env["ECHO_ONLY"] == "x" and env["STATE_TABLE"] == "o2o-local-StateTable"
    assert any("STATE_TABLE" in str(w.message) for w in caught)
