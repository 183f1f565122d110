"""The template's operations features: tracing, the alarms that page (throttles, 5xx, retry
backlog, schedules that stopped firing), retained tables, the custom domain and the fixed
egress IP options. cfn-lint (tests/template/test_sam_lint.py) runs the SAM transform over all of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from template_facts import LAYOUT, RESOURCES, ROOT, SAM_FUNCTION, TEMPLATE, referenced_id, resources_of_type, sub_text

GLOBALS = TEMPLATE["Globals"]["Function"]
ALARMS = {lid: r["Properties"] for lid, r in resources_of_type("AWS::CloudWatch::Alarm").items()}
SCHEDULED = {fn.logical_id for fn in LAYOUT.functions if fn.schedule}
INTERVAL_SECONDS = {"PollJstOutboundFunction": 120, "PollJstDocumentsFunction": 900, "PullJstStockFunction": 3600,
                    "SyncProductsFunction": 3600, "NightlyStockPushFunction": 86400,
                    "PushWdtSalesFunction": 600, "PollWdtDocumentsFunction": 600}


def test_every_function_is_traced_by_powertools():
    # The operator chooses X-Ray's mode (docs/deploy.md "Tracing": what each costs); a recorded
    # invocation runs under Powertools Tracer either way.
    assert referenced_id(GLOBALS["Tracing"]) == "TracingMode"
    mode = TEMPLATE["Parameters"]["TracingMode"]
    assert sorted(mode["AllowedValues"]) == ["Active", "PassThrough"] and mode["Default"] in mode["AllowedValues"]
    variables = GLOBALS["Environment"]["Variables"]
    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"  # answers carry receivers' data
    for lid, resource in resources_of_type(SAM_FUNCTION).items():
        handler = ROOT / resource["Properties"]["CodeUri"] / "app.py"
        assert "@traced" in handler.read_text(encoding="utf-8"), f"{lid}'s handler is not traced"


def test_both_tables_are_retained_on_delete_and_replacement():
    for lid in resources_of_type("AWS::DynamoDB::Table"):
        assert RESOURCES[lid].get("DeletionPolicy") == "Retain", lid
        assert RESOURCES[lid].get("UpdateReplacePolicy") == "Retain", lid


def _throttled_functions() -> list[str]:
    found = []
    for props in ALARMS.values():
        for metric in props.get("Metrics", []):
            stat = metric.get("MetricStat", {}).get("Metric", {})
            if stat.get("MetricName") == "Throttles":
                found.append(referenced_id(stat["Dimensions"][0]["Value"]))
    return found


def test_every_function_has_its_throttles_watched_once():
    assert sorted(_throttled_functions()) == sorted(resources_of_type(SAM_FUNCTION))
    for props in ALARMS.values():
        if props.get("Metrics"):
            assert len(props["Metrics"]) <= 11  # CloudWatch: at most 10 metrics + the expression


def test_webhook_5xx_and_retry_backlog_alarms():
    by_metric = {(p.get("Namespace"), p.get("MetricName")): p for p in ALARMS.values() if p.get("MetricName")}
    api = by_metric[("AWS/ApiGateway", "5xx")]
    assert referenced_id(api["Dimensions"][0]["Value"]) == "HttpApi" and api["Threshold"] == 1
    age = by_metric[("AWS/SQS", "ApproximateAgeOfOldestMessage")]
    assert age["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["RetryQueue", "QueueName"]}
    assert referenced_id(age["Threshold"]) == "RetryQueueMaxAgeSeconds"


@pytest.mark.parametrize("lid", sorted(INTERVAL_SECONDS))
def test_a_schedule_that_stops_firing_raises_an_alarm(lid):
    assert lid in SCHEDULED
    (props,) = [p for p in ALARMS.values() if p.get("MetricName") == "Invocations"
                and referenced_id(p["Dimensions"][0]["Value"]) == lid]
    assert props["TreatMissingData"] == "breaching"  # no run = no datapoint = the failure
    assert props["ComparisonOperator"] == "LessThanThreshold" and props["Threshold"] == 1
    window = props["Period"] * props["EvaluationPeriods"]
    assert window >= 2 * INTERVAL_SECONDS[lid] or props["Period"] == 86400, f"{lid}: one late run would page"
    assert window <= 86400 * 3


def test_custom_domain_is_optional_and_needs_a_certificate():
    assert TEMPLATE["Parameters"]["CustomDomainName"]["Default"] == ""
    for lid in ("ApiDomainName", "ApiDomainMapping"):
        assert RESOURCES[lid]["Condition"] == "HasCustomDomain"
    assert referenced_id(RESOURCES["ApiDomainMapping"]["Properties"]["ApiId"]) == "HttpApi"
    rule = TEMPLATE["Rules"]["CustomDomainNeedsCertificate"]
    assert "CustomDomainCertificateArn" in str(rule["Assertions"])
    outputs = TEMPLATE["Outputs"]
    assert outputs["CustomDomainUrl"]["Condition"] == "HasCustomDomain"
    assert sub_text(outputs["CustomDomainUrl"]["Value"]) == "https://${CustomDomainName}/"


def test_fixed_egress_is_optional_and_leaves_through_one_elastic_ip():
    assert TEMPLATE["Parameters"]["FixedEgressIp"]["Default"] == "false"
    networking = {lid for lid, r in RESOURCES.items() if r["Type"].startswith("AWS::EC2::")}
    assert {"EgressVpc", "NatGateway", "EgressIp", "PrivateSubnetA", "PrivateSubnetB"} <= networking
    assert all(RESOURCES[lid]["Condition"] == "UseFixedEgress" for lid in networking)
    nat = RESOURCES["NatGateway"]["Properties"]
    assert nat["AllocationId"] == {"Fn::GetAtt": ["EgressIp", "AllocationId"]}
    assert RESOURCES["EgressIp"]["DeletionPolicy"] == "Retain"  # JST whitelisted this address
    route = RESOURCES["PrivateDefaultRoute"]["Properties"]
    assert route["DestinationCidrBlock"] == "0.0.0.0/0" and referenced_id(route["NatGatewayId"]) == "NatGateway"
    condition, in_vpc, _ = GLOBALS["VpcConfig"]["Fn::If"]
    assert condition == "UseFixedEgress"
    assert [referenced_id(s) for s in in_vpc["SubnetIds"]] == ["PrivateSubnetA", "PrivateSubnetB"]
    assert TEMPLATE["Outputs"]["EgressIp"]["Condition"] == "UseFixedEgress"


def test_deploy_docs_describe_every_alarm_and_option():
    docs = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8") + \
        (ROOT / "docs" / "zh" / "deploy.md").read_text(encoding="utf-8")
    for props in ALARMS.values():
        name = sub_text(props["AlarmName"]).replace("${AWS::StackName}-", "")
        if name.endswith("-errors"):  # one per function, documented as <function>-errors
            continue
        assert name in docs, f"alarm {name} is not documented in docs/deploy.md or docs/zh/deploy.md"
    for parameter in ("CustomDomainName", "CustomDomainCertificateArn", "FixedEgressIp", "RetryQueueMaxAgeSeconds"):
        assert parameter in docs, parameter
