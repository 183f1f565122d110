"""Event shapes: HTTP API payload 2.0 in and out, route matching, SQS records."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest

from o2o_local.apigw_v2 import MalformedResponse, build_event, is_text_content_type, map_result
from o2o_local.routes import RouteTable
from o2o_local.sqs_event import failed_message_ids, sqs_event, sqs_record
from o2o_local.template import FunctionSpec, Route

NOW = datetime(2026, 3, 12, 19, 3, 58, 123000, tzinfo=timezone.utc)


def fn(name, *routes):
    from pathlib import Path

    return FunctionSpec(logical_id=name.title() + "Function", name=name, code_dir=Path("/nowhere"),
                        routes=[Route(m, p) for m, p in routes])


TABLE = RouteTable({
    "items": fn("items", ("GET", "/items/{id}"), ("POST", "/items/{id}")),
    "special": fn("special", ("GET", "/items/special")),
    "files": fn("files", ("ANY", "/files/{proxy+}")),
    "any_items": fn("any_items", ("ANY", "/items/{id}/notes")),
    "health": fn("health", ("GET", "/health")),
    "root": fn("root", ("GET", "/")),
})


def test_route_matching():
    assert TABLE.match("GET", "/items/special").function.name == "special"  # literal beats {id}
    match = TABLE.match("GET", "/items/a%2Fb")
    assert match.function.name == "items" and match.path_parameters == {"id": "a/b"}
    assert TABLE.match("post", "/items/7").route == Route("POST", "/items/{id}")
    assert TABLE.match("DELETE", "/items/7/notes").function.name == "any_items"
    greedy = TABLE.match("PUT", "/files/a/b/c.txt")
    assert greedy.function.name == "files" and greedy.path_parameters == {"proxy": "a/b/c.txt"}
    assert TABLE.match("GET", "/").function.name == "root"


def test_no_route_and_wrong_method_are_not_found():
    assert TABLE.match("GET", "/nope") is None
    assert TABLE.match("POST", "/health") is None  # API Gateway answers 404 here too
    assert TABLE.match("GET", "/files") is None  # a greedy parameter needs a segment


def test_default_route_catches_the_rest():
    table = RouteTable({"health": fn("health", ("GET", "/health")), "other": fn("other", ("ANY", "$default"))})
    assert table.match("GET", "/health").function.name == "health"
    match = table.match("POST", "/anything/else")
    assert match.function.name == "other" and match.route.route_key == "$default"


def event_for(method="POST", path="/items/42", query="", headers=(), body=b""):
    return build_event(method=method, raw_path=path, raw_query=query, headers=list(headers), body=body,
                       match=TABLE.match(method, path), source_ip="10.0.0.9", domain_name="127.0.0.1:3000",
                       request_id="req-1", now=NOW)


def test_v2_event_shape():
    event = event_for(
        query="a=1&a=2&b=x%20y&c=",
        headers=[("Content-Type", "application/json"), ("X-Multi", "1"), ("x-multi", "2"),
                 ("Cookie", "s=1; t=2"), ("User-Agent", "curl/8"), ("Host", "127.0.0.1:3000")],
        body='{"n": "中"}'.encode())
    assert event == {
        "version": "2.0",
        "routeKey": "POST /items/{id}",
        "rawPath": "/items/42",
        "rawQueryString": "a=1&a=2&b=x%20y&c=",
        "cookies": ["s=1", "t=2"],
        "headers": {"content-type": "application/json", "x-multi": "1,2", "user-agent": "curl/8",
                    "host": "127.0.0.1:3000"},
        "queryStringParameters": {"a": "1,2", "b": "x y", "c": ""},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1:3000",
            "domainPrefix": "127",
            "http": {"method": "POST", "path": "/items/42", "protocol": "HTTP/1.1", "sourceIp": "10.0.0.9",
                     "userAgent": "curl/8"},
            "requestId": "req-1",
            "routeKey": "POST /items/{id}",
            "stage": "$default",
            "time": "12/Mar/2026:19:03:58 +0000",
            "timeEpoch": 1773342238123,
        },
        "pathParameters": {"id": "42"},
        "body": '{"n": "中"}',
        "isBase64Encoded": False,
        "stageVariables": None,
    }


def test_v2_event_without_body_query_or_cookies():
    event = event_for(method="GET", path="/health")
    for absent in ("body", "cookies", "queryStringParameters", "pathParameters"):
        assert absent not in event
    assert event["isBase64Encoded"] is False and event["rawQueryString"] == ""


@pytest.mark.parametrize("content_type, encoded", [
    ("application/json; charset=utf-8", False), ("text/plain", False), ("application/xml", False),
    ("application/x-www-form-urlencoded", True), (None, True), ("application/octet-stream", True),
])
def test_body_encoding_follows_http_api(content_type, encoded):
    headers = [("content-type", content_type)] if content_type else []
    event = event_for(headers=headers, body=b"a=1&b=2")
    assert event["isBase64Encoded"] is encoded
    assert event["body"] == (base64.b64encode(b"a=1&b=2").decode() if encoded else "a=1&b=2")
    assert is_text_content_type(content_type) is not encoded


def test_invalid_utf8_text_body_is_base64():
    event = event_for(headers=[("content-type", "text/plain")], body=b"\xff\xfe")
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\xff\xfe"


def test_response_mapping():
    response = map_result({"statusCode": 201, "headers": {"x-a": "1", "x-n": 2}, "cookies": ["a=1", "b=2"],
                           "body": "created"})
    assert response.status == 201 and response.body == b"created"
    assert response.headers == [("x-a", "1"), ("x-n", "2"), ("set-cookie", "a=1"), ("set-cookie", "b=2")]
    binary = map_result({"statusCode": 200, "isBase64Encoded": True, "body": base64.b64encode(b"\x00\x01").decode()})
    assert binary.body == b"\x00\x01"
    assert map_result({"statusCode": "204"}).body == b""


def test_response_without_status_code_is_inferred():
    for result in ({"ok": True}, ["a"], "text", None):
        response = map_result(result)
        assert response.status == 200 and json.loads(response.body) == result
        assert ("content-type", "application/json") in response.headers


@pytest.mark.parametrize("result", [
    {"statusCode": 200, "body": {"not": "a string"}},
    {"statusCode": "abc"},
    {"statusCode": 200, "isBase64Encoded": True, "body": "***"},
])
def test_malformed_responses(result):
    with pytest.raises(MalformedResponse):
        map_result(result)


MESSAGE = {
    "MessageId": "m-1",
    "ReceiptHandle": "rh-1",
    "MD5OfBody": "abc",
    "Body": '{"x": 1}',
    "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1700000000000", "SenderId": "AIDA",
                   "ApproximateFirstReceiveTimestamp": "1700000000100"},
    "MD5OfMessageAttributes": "def",
    "MessageAttributes": {"kind": {"StringValue": "retry", "DataType": "String"},
                          "blob": {"BinaryValue": b"\x01\x02", "DataType": "Binary"}},
}


def test_sqs_record_shape():
    record = sqs_record(MESSAGE, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    assert record == {
        "messageId": "m-1",
        "receiptHandle": "rh-1",
        "body": '{"x": 1}',
        "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1700000000000", "SenderId": "AIDA",
                       "ApproximateFirstReceiveTimestamp": "1700000000100"},
        "messageAttributes": {
            "kind": {"stringValue": "retry", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "blob": {"binaryValue": "AQI=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
        },
        "md5OfBody": "abc",
        "md5OfMessageAttributes": "def",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }
    plain = sqs_record({k: v for k, v in MESSAGE.items() if not k.startswith(("MessageAttr", "MD5OfMessage"))}, "arn", "r")
    assert plain["messageAttributes"] == {} and "md5OfMessageAttributes" not in plain
    assert list(sqs_event([MESSAGE, MESSAGE], "arn", "r")) == ["Records"]


def test_powertools_reads_the_sqs_record():
    from aws_lambda_powertools.utilities.data_classes import SQSEvent

    event = SQSEvent(sqs_event([MESSAGE], "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1"))
    (record,) = list(event.records)
    assert record.message_id == "m-1" and record.attributes.approximate_receive_count == "2"
    assert record.message_attributes["kind"].string_value == "retry"
    assert record.queue_url.endswith("/123456789012/q")


def test_batch_item_failures():
    ids = ["a", "b", "c"]
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, ids, True) == ({"b"}, None)
    assert failed_message_ids({"batchItemFailures": []}, ids, True) == (set(), None)
    assert failed_message_ids(None, ids, True) == (set(), None)
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, ids, False) == (set(), None)
    failed, problem = failed_message_ids({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, ids, True)
    assert failed == set(ids) and "whole batch" in problem
    failed, problem = failed_message_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, ids, True)
    assert failed == set(ids)
