"""The document ledger's resources: the bucket, who may append to it, the Glue table the reports
read (its columns are the rows ledger.py writes) and the Athena workgroup."""

from __future__ import annotations

from o2o_bridge.ledger import ROW_COLUMNS
from template_facts import RESOURCES, SAM_FUNCTION, TEMPLATE, resources_of_type

# The functions whose flows append facts (S1, S2, S5/S6, the cloud warehouse's confirmations, also
# when caught up by the 旺店通 document run, and every retried step of them).
WRITERS = {"DeliveryCallbackFunction", "CancelCallbackFunction", "ReturnGoodsCallbackFunction", "PosEventsFunction",
           "PollJstOutboundFunction", "PollJstDocumentsFunction", "RetryWorkerFunction", "QimenCallbackFunction",
           "PollWdtDocumentsFunction"}


def _properties(lid):
    return RESOURCES[lid].get("Properties", {})


def test_the_ledger_table_reads_exactly_the_columns_the_functions_write():
    table = _properties("LedgerTable")["TableInput"]
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert columns == ROW_COLUMNS
    assert [p["Name"] for p in table["PartitionKeys"]] == ["tenant", "day"]
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true" and parameters["projection.tenant.type"] == "injected"
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"


def test_only_the_functions_that_record_facts_may_queue_them_and_only_the_writer_stores_them():
    senders, storers = set(), set()
    queue_grant = {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["LedgerQueue", "QueueName"]}}}
    for lid, resource in resources_of_type(SAM_FUNCTION).items():
        policies = resource["Properties"].get("Policies", [])
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        if queue_grant in policies:
            senders.add(lid)
            assert variables.get("LEDGER_QUEUE_URL") == {"Ref": "LedgerQueue"}, lid
            assert "LEDGER_BUCKET" not in variables, lid
        else:
            assert "LEDGER_QUEUE_URL" not in variables, lid
        if {"Ref": "LedgerAppendPolicy"} in policies:
            storers.add(lid)
            assert variables.get("LEDGER_BUCKET") == {"Ref": "LedgerBucket"}, lid
        elif lid == "CompactLedgerFunction":  # merges the facts the writer stored (below)
            assert {"Ref": "LedgerCompactPolicy"} in policies, lid
        else:
            assert "LEDGER_BUCKET" not in variables, lid
    assert senders == WRITERS
    assert storers == {"LedgerWriterFunction"}
    source = _properties("LedgerWriterFunction")["Events"]["Facts"]["Properties"]
    assert source["Queue"] == {"Fn::GetAtt": ["LedgerQueue", "Arn"]}
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]  # one bad object fails only its facts
    assert source["BatchSize"] >= 100 and source["MaximumBatchingWindowInSeconds"] <= 300  # few PUTs, within minutes
    assert _properties("LedgerQueue")["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["LedgerDLQ", "Arn"]}
    [statement] = _properties("LedgerAppendPolicy")["PolicyDocument"]["Statement"]
    assert statement["Action"] == "s3:PutObject"
    assert statement["Resource"] == {"Fn::Sub": "${LedgerBucket.Arn}/ledger/*"}


def test_the_ledger_bucket_is_private_encrypted_versioned_and_kept():
    bucket = RESOURCES["LedgerBucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    props = bucket["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    workgroup = _properties("LedgerWorkgroup")["WorkGroupConfiguration"]
    assert workgroup["EnforceWorkGroupConfiguration"] is True
    assert workgroup["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"
    assert {"LedgerBucketName", "LedgerDatabaseName", "LedgerWorkgroupName"} <= set(TEMPLATE["Outputs"])


def test_the_report_engines_stay_out_of_the_lambda_layer():
    from template_facts import ROOT

    requirements = (ROOT / "layers" / "shared" / "requirements.txt").read_text(encoding="utf-8").lower()
    assert "duckdb" not in requirements and "openpyxl" not in requirements
    layer_sources = (ROOT / "layers" / "shared" / "o2o_bridge").rglob("*.py")
    assert not [p for p in layer_sources if "import duckdb" in p.read_text("utf-8") or "openpyxl" in p.read_text("utf-8")]


def test_only_compact_ledger_may_read_or_delete_ledger_objects_and_only_under_ledger():
    listing, objects = _properties("LedgerCompactPolicy")["PolicyDocument"]["Statement"]
    assert listing["Action"] == "s3:ListBucket" and listing["Condition"] == {"StringLike": {"s3:prefix": "ledger/*"}}
    assert sorted(objects["Action"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert objects["Resource"] == {"Fn::Sub": "${LedgerBucket.Arn}/ledger/*"}
    users = [lid for lid, r in resources_of_type(SAM_FUNCTION).items()
             if {"Ref": "LedgerCompactPolicy"} in r["Properties"].get("Policies", [])]
    assert users == ["CompactLedgerFunction"]
    schedule = _properties("CompactLedgerFunction")["Events"]["Schedule"]["Properties"]
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == ("cron(30 3 * * ? *)",
                                                                                        "Asia/Shanghai")
    # The merged objects' previous versions do not stay forever in the versioned bucket.
    rules = {r["Id"]: r for r in _properties("LedgerBucket")["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-merged-ledger-objects"]["Prefix"] == "ledger/"
