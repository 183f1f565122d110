"""Where the CLI finds the bridge's tables and queues.

In order: variables already set (STATE_TABLE, ...); the outputs of the deployed stack
named by O2O_STACK; the local stack's names when AWS_ENDPOINT_URL points at one.
"""

from __future__ import annotations

import os

from .. import runtime
from ..errors import ConfigurationError

# Stack output -> environment variable the functions read.
STACK_OUTPUTS = {
    "StateTableName": "STATE_TABLE",
    "IdempotencyTableName": "IDEMPOTENCY_TABLE",
    "RetryQueueUrl": "RETRY_QUEUE_URL",
    "RetryDLQUrl": "RETRY_DLQ_URL",
    # Flows the CLI runs in process (o2o exceptions reroute...) append their facts to the ledger.
    "LedgerBucketName": "LEDGER_BUCKET",
}
# Read when the stack has them (`o2o dlq --queue ledger` needs them; a stack deployed before they
# existed still serves every other command).
OPTIONAL_STACK_OUTPUTS = {
    "LedgerQueueUrl": "LEDGER_QUEUE_URL",
    "LedgerDLQUrl": "LEDGER_DLQ_URL",
}
# The queues the local stack's functions are not told of, by their logical id.
LOCAL_ONLY_QUEUES = {"LEDGER_DLQ_URL": "LedgerDLQ"}


def is_local_stack() -> bool:
    """True when the CLI talks to the local stack (`o2o local up`), not to AWS."""
    return bool(os.environ.get("AWS_ENDPOINT_URL"))


def use_bridge_environment() -> str:
    """Point this process at the bridge's resources; returns a one-line description."""
    if all(os.environ.get(var) for var in STACK_OUTPUTS.values()):
        where = "the environment"
    elif os.environ.get("O2O_STACK"):
        where = _from_stack(os.environ["O2O_STACK"])
    elif os.environ.get("AWS_ENDPOINT_URL"):
        from o2o_local.bootstrap import local_environment
        from o2o_local.template import load_template

        template = load_template()
        for name, value in local_environment(template, os.environ["AWS_ENDPOINT_URL"]).items():
            os.environ.setdefault(name, value)
        _local_queues(template, os.environ["AWS_ENDPOINT_URL"])
        where = f"the local stack at {os.environ['AWS_ENDPOINT_URL']}"
    else:
        raise ConfigurationError(
            "no bridge to talk to: set O2O_STACK to a deployed stack's name, or start `o2o local up` "
            "and export the AWS_ENDPOINT_URL it prints"
        )
    runtime.reset()
    return where


def _local_queues(template, endpoint_url: str) -> None:
    from o2o_local.environment import local_refs

    refs = local_refs(template, endpoint_url)
    for variable, logical_id in LOCAL_ONLY_QUEUES.items():
        if refs.get(logical_id):
            os.environ.setdefault(variable, refs[logical_id])


def _from_stack(stack_name: str) -> str:
    client = runtime.aws_client("cloudformation")
    try:
        stacks = client.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:  # botocore's ClientError and connection errors alike
        raise ConfigurationError(f"cannot read stack {stack_name!r}: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [key for key in STACK_OUTPUTS if key not in outputs]
    if missing:
        raise ConfigurationError(f"stack {stack_name!r} has no output(s) {', '.join(missing)}: is it an o2o-bridge stack?")
    for key, var in STACK_OUTPUTS.items():
        os.environ[var] = outputs[key]
    for key, var in OPTIONAL_STACK_OUTPUTS.items():
        if key in outputs:
            os.environ[var] = outputs[key]
    return f"stack {stack_name}"
