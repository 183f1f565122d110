"""Attack 8: each function's policy grants only the tables, actions, keys and secret paths its
code uses. The table below is the whole of what every function may do; a grant added to the
template without a line here (or a line here the template lost) fails.

Grants are read from the template as (action, resource, condition) triples: managed policies
are expanded, SAM's SQSSendMessagePolicy is ``sqs:SendMessage*`` on its queue. (SAM also adds
the SQS poller grants to retry_worker for its event source, and log writing to every function.)
"""

from __future__ import annotations

import pytest

from template_facts import RESOURCES, TEMPLATE, referenced_id, sub_text

STATE_WRITE_KEYS = "LINK#*,CURSOR#*,DOC#*,REC#*,RATE#*,TOKEN#*"
FLOW = {  # StateFlowPolicy: every function that runs a flow
    ("dynamodb:GetItem", "StateTable", ""),
    ("dynamodb:BatchGetItem", "StateTable", ""),  # a push's SKUs' stored levels in one read
    ("dynamodb:Query", "StateTable", ""),
    ("dynamodb:PutItem", "StateTable", STATE_WRITE_KEYS),
    ("dynamodb:UpdateItem", "StateTable", STATE_WRITE_KEYS),
    ("dynamodb:ConditionCheckItem", "StateTable", STATE_WRITE_KEYS),
    ("dynamodb:DeleteItem", "StateTable", "REC#*"),
    ("secretsmanager:GetSecretValue", "secret:${TenantSecretPrefix}tenants/*", ""),
    ("kms:Encrypt", "TokenKey", "jst-token"),
    ("kms:Decrypt", "TokenKey", "jst-token"),
    ("sqs:SendMessage*", "RetryQueue", ""),
}
LIST_TENANTS = {("dynamodb:Query", "StateTable/index/gsi1", "")}
PARK = {("sqs:SendMessage*", "RetryDLQ", "")}
def runs(queue: str) -> set[tuple[str, str, str]]:
    """A scheduled function fans out one run per tenant onto its own FIFO queue (kit.fan_out)."""
    return {("sqs:SendMessage*", queue, "")}


# The document ledger: the functions whose flows record business facts send them to LedgerQueue
# (docs/order-centre.md); only ledger_writer stores them, as new objects under ledger/
# (LedgerAppendPolicy).
LEDGER = {("sqs:SendMessage*", "LedgerQueue", "")}
LEDGER_STORE = {("s3:PutObject", "${LedgerBucket.Arn}/ledger/*", "")}
# compact_ledger: list, read, write and delete under ledger/ only (LedgerCompactPolicy).
LEDGER_COMPACT = {("s3:ListBucket", "LedgerBucket", "s3:prefix=ledger/*")} | {
    (action, "${LedgerBucket.Arn}/ledger/*", "") for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")}
# ScheduleTurnPolicy: a scheduled function that runs no flow reads tenants and its turn, advances the turn.
SCHEDULE_TURN = {("dynamodb:GetItem", "StateTable", ""), ("dynamodb:UpdateItem", "StateTable", "CURSOR#*")}
STORE_EVENTS_ONCE = {(action, "IdempotencyTable", "pos_events.event#*") for action in
                     ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")}

EXPECTED = {
    "DeliveryCallbackFunction": FLOW | PARK | LEDGER,
    "CancelCallbackFunction": FLOW | PARK | LEDGER,
    "ReturnGoodsCallbackFunction": FLOW | PARK | LEDGER,
    "StockCallbackFunction": FLOW,
    "PosEventsFunction": FLOW | PARK | STORE_EVENTS_ONCE | LEDGER,
    "HealthFunction": set(),
    "PollJstOutboundFunction": FLOW | LIST_TENANTS | PARK | LEDGER | runs("PollJstOutboundRuns"),
    "PollJstDocumentsFunction": FLOW | LIST_TENANTS | PARK | LEDGER | runs("PollJstDocumentsRuns"),
    "PullJstStockFunction": FLOW | LIST_TENANTS | PARK | runs("PullJstStockRuns"),
    "SyncProductsFunction": FLOW | LIST_TENANTS | runs("SyncProductsRuns"),
    "NightlyStockPushFunction": FLOW | LIST_TENANTS | runs("NightlyStockPushRuns"),
    "RetryWorkerFunction": FLOW | PARK | LEDGER,
    "QimenCallbackFunction": FLOW | PARK | LEDGER,
    "PushWdtSalesFunction": FLOW | LIST_TENANTS | PARK | runs("PushWdtSalesRuns"),
    # W2, and a cloud warehouse's caught-up confirmations (Q1), which are ledger facts.
    "PollWdtDocumentsFunction": FLOW | LIST_TENANTS | PARK | LEDGER | runs("PollWdtDocumentsRuns"),
    # Stores LedgerQueue's facts; parks a message that is no fact with its reason.
    "LedgerWriterFunction": LEDGER_STORE | PARK,
    "CompactLedgerFunction": LEDGER_COMPACT | SCHEDULE_TURN | LIST_TENANTS | runs("CompactLedgerRuns"),
}
PUBLIC = ["DeliveryCallbackFunction", "CancelCallbackFunction", "ReturnGoodsCallbackFunction",
          "StockCallbackFunction", "PosEventsFunction", "HealthFunction", "QimenCallbackFunction"]


def _resource(value) -> str:
    target = referenced_id(value)
    if target:
        return target
    text = sub_text(value) or ""
    if text.startswith("${StateTable.Arn}"):
        return "StateTable" + text[len("${StateTable.Arn}"):]
    if ":secret:" in text:
        return "secret:" + text.split(":secret:", 1)[1]
    return text


def _condition(statement) -> str:
    condition = statement.get("Condition") or {}
    keys = condition.get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
    if keys:
        return ",".join(keys)
    prefix = condition.get("StringLike", {}).get("s3:prefix")
    if prefix:
        return f"s3:prefix={prefix}"
    context = condition.get("StringEquals", {}).get("kms:EncryptionContext:o2o:purpose")
    return context or ("?" if condition else "")


def grants(function_id: str) -> set[tuple[str, str, str]]:
    found = set()
    for policy in RESOURCES[function_id]["Properties"].get("Policies", []):
        managed = referenced_id(policy)
        if managed:
            assert RESOURCES[managed]["Type"] == "AWS::IAM::ManagedPolicy", managed
            for statement in RESOURCES[managed]["Properties"]["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow"
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                found |= {(a, _resource(statement["Resource"]), _condition(statement)) for a in actions}
        elif "SQSSendMessagePolicy" in policy:
            found.add(("sqs:SendMessage*", referenced_id(policy["SQSSendMessagePolicy"]["QueueName"]), ""))
        else:
            raise AssertionError(f"{function_id}: a policy this test cannot read: {policy}")
    return found


@pytest.mark.parametrize("function_id", sorted(EXPECTED))
def test_each_function_is_granted_exactly_what_its_code_uses(function_id):
    got = grants(function_id)
    assert got == EXPECTED[function_id], (
        f"{function_id}: extra {sorted(got - EXPECTED[function_id])}, missing {sorted(EXPECTED[function_id] - got)}")


def test_every_function_of_the_template_has_a_line_in_the_table():
    functions = {lid for lid, r in RESOURCES.items() if r.get("Type") == "AWS::Serverless::Function"}
    assert functions == set(EXPECTED)


@pytest.mark.parametrize("function_id", PUBLIC)
def test_public_functions_cannot_scan_batch_or_delete_beyond_flow_records(function_id):
    for action, resource, condition in grants(function_id):
        assert action not in ("dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:*", "*"), action
        if action == "dynamodb:DeleteItem":
            assert condition in ("REC#*", "pos_events.event#*"), (action, resource, condition)
        if action in ("dynamodb:PutItem", "dynamodb:UpdateItem") and resource == "StateTable":
            assert "TENANT#" not in condition and condition, "a webhook may write tenant configuration"


def test_health_reads_nothing():
    assert grants("HealthFunction") == set()
    assert "Policies" not in RESOURCES["HealthFunction"]["Properties"]


def test_tenant_secrets_are_readable_only_under_the_tenants_path():
    secret_grants = {g for lid in EXPECTED for g in grants(lid) if g[0].startswith("secretsmanager:")}
    assert secret_grants == {("secretsmanager:GetSecretValue", "secret:${TenantSecretPrefix}tenants/*", "")}
    # and a tenant's file can only name its own path (tests/unit/test_secret_references.py)


def test_the_token_key_is_rotated_retained_and_usable_only_for_jst_tokens():
    key = RESOURCES["TokenKey"]
    assert key["Properties"]["EnableKeyRotation"] is True and key["DeletionPolicy"] == "Retain"
    kms_grants = {g for lid in EXPECTED for g in grants(lid) if g[0].startswith("kms:")}
    assert kms_grants == {("kms:Encrypt", "TokenKey", "jst-token"), ("kms:Decrypt", "TokenKey", "jst-token")}
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["TOKEN_KEY_ID"] == {"Ref": "TokenKeyAlias"}
