"""The HTTP functions' resolver (o2o_bridge/web/http.py): routes, middlewares, error handlers
and answers as Powertools' APIGatewayHttpResolver gave them (payload format 2.0)."""

import json

import pytest

from handlers import sample_event
from o2o_bridge.web.http import HttpResolver, Response


class Context:
    aws_request_id = "req-1"


def request(method, path, stage="$default", **changes):
    event = sample_event("health", **changes)
    event["rawPath"] = path
    event["routeKey"] = f"{method} {path}"
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["stage"] = stage
    return event


@pytest.fixture
def app():
    app = HttpResolver()

    def tag(app, next_middleware):
        app.append_context(tag="seen")
        return next_middleware(app)

    @app.post("/echo", middlewares=[tag])
    def echo():
        event = app.current_event
        return Response(201, "text/plain", f"{event.body}|{event.headers.get('X-Thing')}|{app.context['tag']}")

    @app.get("/json")
    def as_json():
        return {"a": 1, "b": "中"}

    @app.get("/boom")
    def boom():
        raise KeyError("x")

    return app


def test_a_route_answers_with_its_response_and_sees_the_request_and_its_middleware(app):
    answer = app.resolve(request("POST", "/echo", body="hi", headers={"x-thing": "7"}), Context())
    assert answer == {"statusCode": 201, "headers": {"Content-Type": "text/plain"}, "cookies": [],
                      "body": "hi|7|seen", "isBase64Encoded": False}
    assert app.context == {}  # cleared after the request


def test_a_dict_is_compact_json_and_a_named_stage_is_not_part_of_the_path(app):
    for event in (request("GET", "/json"), request("GET", "/dev/json", stage="dev")):
        answer = app.resolve(event, Context())
        assert answer["statusCode"] == 200 and answer["headers"] == {"Content-Type": "application/json"}
        assert answer["body"] == '{"a":1,"b":"\\u4e2d"}'


def test_no_route_for_the_method_and_path_is_404_or_the_not_found_handler(app):
    assert app.resolve(request("GET", "/echo"), Context())["statusCode"] == 404
    assert json.loads(app.resolve(request("GET", "/nowhere"), Context())["body"]) == {"statusCode": 404, "message": "Not found"}

    @app.not_found
    def missing(error):
        return Response(404, "text/plain", f"missing {error}")

    assert app.resolve(request("GET", "/nowhere"), Context())["body"] == "missing GET /nowhere"


def test_the_nearest_handler_along_the_exception_s_classes_answers_and_others_go_on_up(app):
    with pytest.raises(KeyError):
        app.resolve(request("GET", "/boom"), Context())

    @app.exception_handler(Exception)
    def anything(error):
        return Response(500, "text/plain", "any")

    @app.exception_handler(LookupError)
    def lookup(error):
        return Response(400, "text/plain", f"lookup {type(error).__name__} {app.lambda_context.aws_request_id}")

    assert app.resolve(request("GET", "/boom"), Context())["body"] == "lookup KeyError req-1"


def test_bytes_are_answered_in_base64():
    app = HttpResolver()

    @app.get("/raw")
    def raw():
        return Response(200, "application/octet-stream", b"\x00\x01")

    answer = app.resolve(request("GET", "/raw"), Context())
    assert answer["isBase64Encoded"] is True and answer["body"] == "AAE="


def test_the_request_reads_as_the_routes_read_it(app):
    seen = {}

    @app.get("/read")
    def read():
        event = app.current_event
        seen.update(query=event.query_string_parameters, raw=event.get("rawQueryString"),
                    encoded=event.is_base64_encoded, header=event.headers["CONTENT-TYPE"])
        return {}

    app.resolve(request("GET", "/read", query={"a": "1"}), Context())
    assert seen["query"] == {"a": "1"} and seen["encoded"] is False and seen["header"] == "application/json"
    app.resolve(request("GET", "/read", query=None), Context())
    assert seen["query"] == {}
