"""`o2o invoke FUNCTION [--event FILE]`: run one function once and print its result.

Against a deployed stack (``O2O_STACK``) it invokes the deployed Lambda function (Lambda
``Invoke``, the function's name taken from the stack's ``<LogicalId>Name`` output, else its
resources): the function runs with its own role, network (the fixed egress IP JST
whitelists) and configuration, never in the operator's process. Against the local stack
(``AWS_ENDPOINT_URL``) the handler runs in this process, as the local stack runs it.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import BadRequest, ConfigurationError
from ._output import echo_json


def register(commands) -> None:
    invoke = commands.add_parser(
        "invoke", help="run one function once and print its result (the deployed function when O2O_STACK is set, "
                       "else the handler in process against the local stack)")
    invoke.add_argument("function", help="short name (e.g. poll_jst_outbound) or logical id")
    invoke.add_argument("--event", type=Path, help="JSON event file (schedule functions need none)")
    invoke.add_argument("--restamp", action="store_true",
                        help="local stack only: move the event's time to now and sign it again with the tenant's "
                             "secrets (the bridge refuses old store events and signed JST pushes as replays)")
    invoke.set_defaults(run=invoke_function)


def _read_event(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadRequest(f"cannot read event {path}: {exc}") from None


def invoke_function(args) -> int:
    from o2o_local.errors import LocalStackError

    event = _read_event(args.event)
    deployed = bool(os.environ.get("O2O_STACK") and not os.environ.get("AWS_ENDPOINT_URL"))
    if args.restamp:
        if deployed or event is None:
            raise BadRequest("--restamp is for a sample --event on the local stack (AWS_ENDPOINT_URL)")
        event = _restamped(event)
    try:
        if deployed:
            return invoke_deployed(os.environ["O2O_STACK"], args.function, event)
        from o2o_local.stack import invoke_function as run_in_process

        result = run_in_process(args.function, event)
    except LocalStackError as exc:
        raise BadRequest(str(exc)) from None
    echo_json(result)
    return 0


def _restamped(event: dict[str, Any]) -> dict[str, Any]:
    from o2o_local.sample_documents import restamped

    from .. import runtime
    from .environment import use_bridge_environment
    from .tenant import stored_tenant

    use_bridge_environment()
    query = event.get("queryStringParameters") or {}
    ent_id = query.get("entId")
    if ent_id is None and event.get("body"):
        import base64

        raw = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else event["body"]
        try:
            ent_id = json.loads(raw).get("ent_id")
        except (ValueError, AttributeError):
            ent_id = None
    if ent_id is None:
        return event
    return restamped(event, stored_tenant(str(ent_id)), runtime.secret_resolver())


def invoke_deployed(stack_name: str, name: str, event: dict[str, Any] | None, *, lambda_client=None,
                    cloudformation=None) -> int:
    """Invoke the stack's function synchronously; its log tail goes to stderr, its result to stdout."""
    from o2o_local.template import load_template

    from .. import runtime

    spec = _function_spec(load_template(), name)
    if event is None:
        event = _default_event(spec)
    function_name = deployed_function_name(cloudformation or runtime.aws_client("cloudformation"), stack_name,
                                           spec.logical_id)
    client = lambda_client or runtime.aws_client("lambda")
    print(f"invoking {function_name} (stack {stack_name})", file=sys.stderr)
    answer = client.invoke(FunctionName=function_name, InvocationType="RequestResponse", LogType="Tail",
                           Payload=json.dumps(event).encode("utf-8"))
    if answer.get("LogResult"):
        sys.stderr.write(base64.b64decode(answer["LogResult"]).decode("utf-8", "replace"))
    payload = answer["Payload"].read().decode("utf-8")
    try:
        result = json.loads(payload) if payload else None
    except ValueError:
        result = payload
    echo_json(result)
    if answer.get("FunctionError"):
        print(f"o2o: {function_name} failed ({answer['FunctionError']}); its log group has the details",
              file=sys.stderr)
        return 1
    return 0


def _function_spec(template, name: str):
    try:
        return template.function(name)
    except KeyError as exc:
        raise BadRequest(exc.args[0]) from None


def _default_event(spec) -> dict[str, Any]:
    if spec.schedules:
        return spec.schedules[0].event()
    if spec.routes or spec.sqs_sources:
        kind = "an API Gateway v2" if spec.routes else "an SQS"
        raise BadRequest(f"{spec.name} needs {kind} event: --event events/{spec.name}.json")
    return {}


def deployed_function_name(cloudformation, stack_name: str, logical_id: str) -> str:
    """The physical name of ``logical_id``: the stack's ``<LogicalId>Name`` output, else its resource."""
    try:
        outputs = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0].get("Outputs", [])
        for output in outputs:
            if output["OutputKey"] == f"{logical_id}Name":
                return output["OutputValue"]
        resource = cloudformation.describe_stack_resource(StackName=stack_name, LogicalResourceId=logical_id)
        return resource["StackResourceDetail"]["PhysicalResourceId"]
    except Exception as exc:  # botocore ClientError: no such stack, or no such resource in it
        if type(exc).__name__ != "ClientError":
            raise
        raise ConfigurationError(f"stack {stack_name!r} has no function {logical_id}: {exc}") from None
