"""`o2o invoke` against a deployed stack runs the deployed function (Lambda Invoke), never the
handler in the operator's process."""

from __future__ import annotations

import base64
import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from o2o_bridge.cli import main as o2o
from o2o_bridge.cli.invoke import invoke_deployed

STACK = "o2o-bridge-prod"


def stubbed(service: str):
    client = boto3.client(service, region_name="cn-north-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def payload(document) -> StreamingBody:
    raw = json.dumps(document).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def test_a_schedule_function_is_invoked_by_its_deployed_name_with_its_schedule_input(capsys, monkeypatch):
    cloudformation, cfn = stubbed("cloudformation")
    lam, lam_stub = stubbed("lambda")
    cfn.add_response("describe_stacks", {"Stacks": [{
        "StackName": STACK, "CreationTime": "2026-12-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE",
        "Outputs": [{"OutputKey": "PollJstOutboundFunctionName", "OutputValue": "o2o-bridge-prod-PollJstOutbound-AbC"}],
    }]}, {"StackName": STACK})
    lam_stub.add_response("invoke", {
        "StatusCode": 200, "Payload": payload({"job": "poll_jst_outbound", "tenants": {}}),
        "LogResult": base64.b64encode(b"START RequestId: 1\nEND RequestId: 1\n").decode(),
    }, {"FunctionName": "o2o-bridge-prod-PollJstOutbound-AbC", "InvocationType": "RequestResponse",
        "LogType": "Tail", "Payload": ANY})
    # The handler must not run here: importing it would be the mistake this guards against.
    monkeypatch.setattr("o2o_local.lambda_runtime.invoke", lambda *a, **k: pytest.fail("ran in process"))
    with cfn, lam_stub:
        assert invoke_deployed(STACK, "poll_jst_outbound", None, lambda_client=lam, cloudformation=cloudformation) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"job": "poll_jst_outbound", "tenants": {}}
    assert "invoking o2o-bridge-prod-PollJstOutbound-AbC (stack o2o-bridge-prod)" in err and "END RequestId" in err


def test_a_failed_function_is_exit_1_with_its_error_on_stdout(capsys):
    cloudformation, cfn = stubbed("cloudformation")
    lam, lam_stub = stubbed("lambda")
    cfn.add_response("describe_stacks", {"Stacks": [{"StackName": STACK, "CreationTime": "2026-12-01T00:00:00Z",
                                                     "StackStatus": "CREATE_COMPLETE", "Outputs": []}]})
    cfn.add_response("describe_stack_resource", {"StackResourceDetail": {
        "LogicalResourceId": "HealthFunction", "PhysicalResourceId": "o2o-health-XyZ", "ResourceType": "AWS::Lambda::Function",
        "LastUpdatedTimestamp": "2026-12-01T00:00:00Z", "ResourceStatus": "CREATE_COMPLETE"}})
    lam_stub.add_response("invoke", {"StatusCode": 200, "FunctionError": "Unhandled",
                                     "Payload": payload({"errorMessage": "boom", "errorType": "RuntimeError"})})
    event = json.loads(open("events/health.json", encoding="utf-8").read())
    with cfn, lam_stub:
        assert invoke_deployed(STACK, "health", event, lambda_client=lam, cloudformation=cloudformation) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["errorMessage"] == "boom"
    assert "o2o: o2o-health-XyZ failed (Unhandled)" in err


def test_an_http_function_without_an_event_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setenv("O2O_STACK", STACK)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert o2o(["invoke", "delivery_callback"]) == 2
    assert "delivery_callback needs an API Gateway v2 event" in capsys.readouterr().err
