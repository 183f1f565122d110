"""Integration: bootstrap at a moto server, and the HTTP API emulator in front of fixture
functions (servers on free 127.0.0.1 ports)."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request

import pytest

from o2o_local.api import ApiEmulator
from o2o_local.aws_clients import local_client
from o2o_local.bootstrap import bootstrap, ordered_queues

pytestmark = pytest.mark.integration


def test_dead_letter_queues_come_first(fixture_template):
    assert [q.logical_id for q in ordered_queues(fixture_template)] == ["WorkDLQ", "WorkQueue"]


def test_bootstrap_creates_tables_and_queues_idempotently(fixture_template, moto_endpoint):
    lines = []
    first = bootstrap(fixture_template, moto_endpoint, log=lines.append)
    second = bootstrap(fixture_template, moto_endpoint, log=lines.append)
    assert first == second == {
        "StateTable": "o2o-local-StateTable",
        "IdempotencyTable": "o2o-local-IdempotencyTable",
        "WorkDLQ": f"{moto_endpoint}/123456789012/o2o-local-WorkDLQ",
        "WorkQueue": f"{moto_endpoint}/123456789012/o2o-local-WorkQueue",
    }
    assert all("(exists" in line for line in lines[4:])

    dynamodb = local_client("dynamodb", moto_endpoint)
    table = dynamodb.describe_table(TableName="o2o-local-StateTable")["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName="o2o-local-StateTable")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    ttl = dynamodb.describe_time_to_live(TableName="o2o-local-IdempotencyTable")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiration"

    sqs = local_client("sqs", moto_endpoint)
    attributes = sqs.get_queue_attributes(QueueUrl=first["WorkQueue"], AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "60"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":o2o-local-WorkDLQ") and int(redrive["maxReceiveCount"]) == 2
    dlq = sqs.get_queue_attributes(QueueUrl=first["WorkDLQ"], AttributeNames=["MessageRetentionPeriod"])["Attributes"]
    assert dlq["MessageRetentionPeriod"] == "1209600"


def test_local_environment_urls_are_the_real_ones(local_env):
    import os

    assert os.environ["WORK_QUEUE_URL"] == local_env["WorkQueue"]
    assert os.environ["WORK_DLQ_URL"] == local_env["WorkDLQ"]


@pytest.fixture
def api(fixture_template, local_env):
    lines = []
    with ApiEmulator(fixture_template, port=0, log=lines.append) as emulator:
        emulator.lines = lines
        yield emulator


def call(api, method, path, body=None, headers=None):
    request = urllib.request.Request(api.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def logged(api, predicate, seconds: float = 3.0) -> bool:
    """The emulator logs a request after its answer is sent: give the log line a moment."""
    deadline = time.monotonic() + seconds
    while not any(predicate(line) for line in api.lines):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_api_routes_a_request_to_the_function(api):
    status, headers, body = call(api, "GET", "/echo?a=1&a=2", headers={"Cookie": "s=1", "X-Test": "yes"})
    assert status == 200
    assert headers["x-function"] == "o2o-local-EchoFunction"
    assert headers.get_all("set-cookie") == ["a=1; Path=/", "b=2"]
    assert headers["apigw-requestid"]
    event = json.loads(body)["event"]
    assert event["routeKey"] == "GET /echo" and event["rawQueryString"] == "a=1&a=2"
    assert event["queryStringParameters"] == {"a": "1,2"}
    assert event["cookies"] == ["s=1"] and event["headers"]["x-test"] == "yes"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["domainName"] == api.url.removeprefix("http://")
    assert 0 < json.loads(body)["remaining_ms"] <= 10_000  # counts down from the function timeout
    assert logged(api, lambda line: line.startswith("[api] GET /echo -> echo 200"))


def test_api_path_parameters_form_bodies_and_inferred_responses(api):
    status, headers, body = call(api, "POST", "/items/a%20b", body=b"x=1&y=2",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert answer["id"] == "a b"
    assert base64.b64decode(answer["body"]) == b"x=1&y=2"  # HTTP APIs base64 form bodies


def test_api_binary_response(api):
    status, headers, body = call(api, "PUT", "/files/a/b.bin", body=b"\x00")
    assert (status, headers["content-type"], body) == (201, "application/octet-stream", b"\x00\x01binary")


def test_api_unknown_route_and_wrong_method_are_404(api):
    assert call(api, "GET", "/nope")[::2] == (404, b'{"message": "Not Found"}')
    assert call(api, "DELETE", "/echo")[::2] == (404, b'{"message": "Not Found"}')


def test_api_handler_error_is_internal_server_error(api):
    status, _, body = call(api, "GET", "/boom")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert logged(api, lambda line: "RuntimeError: boom" in line)  # the traceback is logged


def test_api_port_in_use(fixture_template, api):
    with pytest.raises(OSError):
        ApiEmulator(fixture_template, port=api.port).start()
