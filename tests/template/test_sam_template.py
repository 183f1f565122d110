"""Checks over the raw template.yaml that cfn-lint does not make: the names of
docs/stack-layout.md, queue and schedule settings that only fail at run time, the layer
matching the functions, and that every function is observable (logs, alarms)."""

from __future__ import annotations

import re
import tomllib
import zoneinfo

import pytest

from template_facts import (
    LAMBDA_DEFAULT_TIMEOUT,
    LAYOUT,
    RESOURCES,
    ROOT,
    SAM_FUNCTION,
    SQS_DEFAULT_RETENTION,
    SQS_QUEUE,
    TEMPLATE,
    function_events,
    function_properties,
    referenced_id,
    resources_of_type,
    sam_functions,
    sub_text,
)

DESIGN = {fn.short_name: fn for fn in LAYOUT.functions}
FUNCTION_IDS = [fn.logical_id for fn in LAYOUT.functions]
LAYER_ID = "SharedLayer"
CLOUDWATCH_RETENTION_DAYS = {
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
}


def _param_default(name: str):
    return TEMPLATE["Parameters"][name].get("Default")


# ----------------------------------------------------------------- functions


# The twelve functions of the first design; connectors added since (旺店通, 奇门, ...) add their own.
FIRST_DESIGN = {"delivery_callback", "cancel_callback", "return_goods_callback", "stock_callback", "pos_events",
                "health", "poll_jst_outbound", "poll_jst_documents", "pull_jst_stock", "sync_products",
                "nightly_stock_push", "retry_worker"}


def test_stack_layout_lists_the_functions_of_the_design():
    listed = [fn.short_name for fn in LAYOUT.functions]
    assert FIRST_DESIGN <= set(listed), f"docs/stack-layout.md's Functions table lacks {sorted(FIRST_DESIGN - set(listed))}"
    assert len(listed) == len(set(listed)), f"docs/stack-layout.md lists a function twice: {listed}"
    # push_wdt_sales (W1) and poll_wdt_documents (W2) for 旺店通, qimen_callback for the cloud WMS.
    assert {"push_wdt_sales", "poll_wdt_documents", "qimen_callback"} <= set(listed)


def test_template_has_no_function_missing_from_stack_layout():
    extra = set(resources_of_type(SAM_FUNCTION)) - set(FUNCTION_IDS)
    assert not extra, f"template.yaml has functions docs/stack-layout.md does not name: {sorted(extra)}"


@pytest.mark.parametrize("short_name", list(DESIGN))
def test_design_function_is_in_template_with_its_code_folder(short_name):
    fn = DESIGN[short_name]
    resource = RESOURCES.get(fn.logical_id)
    assert resource is not None, f"{fn.logical_id} ({short_name}) is missing from template.yaml"
    assert resource["Type"] == SAM_FUNCTION, f"{fn.logical_id} is not an AWS::Serverless::Function"
    props = function_properties(fn.logical_id)
    assert props.get("CodeUri") == f"functions/{short_name}/", (
        f"{fn.logical_id} CodeUri is {props.get('CodeUri')!r}, expected 'functions/{short_name}/'"
    )
    assert props.get("Handler") == "app.lambda_handler", f"{fn.logical_id} handler is not app.lambda_handler"
    app = ROOT / "functions" / short_name / "app.py"
    assert app.is_file(), f"functions/{short_name}/app.py does not exist: sam build would ship no handler"
    source = app.read_text(encoding="utf-8")
    assert re.search(r"^(?:async\s+)?def lambda_handler\s*\(|^lambda_handler\s*=", source, re.M), (
        f"functions/{short_name}/app.py defines no lambda_handler: every invocation would fail"
    )


def test_every_function_runs_python312_on_arm64_with_the_shared_layer():
    for lid, props in sam_functions().items():
        assert props.get("Runtime") == "python3.12", f"{lid} runtime is {props.get('Runtime')}"
        assert props.get("Architectures") == ["arm64"], f"{lid} architectures are {props.get('Architectures')}"
        layers = [referenced_id(layer) for layer in props.get("Layers", [])]
        assert LAYER_ID in layers, f"{lid} does not use {LAYER_ID}: it could not import o2o_bridge"


def test_global_environment_is_exactly_the_one_in_stack_layout():
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert set(variables) == set(LAYOUT.environment), (
        "Globals environment differs from docs/stack-layout.md: "
        f"missing {sorted(set(LAYOUT.environment) - set(variables))}, "
        f"extra {sorted(set(variables) - set(LAYOUT.environment))}"
    )
    for name, documented in LAYOUT.environment.items():
        expected = {"Ref": documented.removeprefix("!Ref ")} if documented.startswith("!Ref ") else documented
        assert variables[name] == expected, f"{name} is {variables[name]!r}, stack-layout.md says {documented!r}"


def test_no_function_overrides_the_global_environment():
    for lid, resource in resources_of_type(SAM_FUNCTION).items():
        own = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        clash = set(own) & set(LAYOUT.environment)
        assert not clash, f"{lid} overrides shared environment variables {sorted(clash)}"


# ----------------------------------------------------------------- HTTP API


def _template_routes() -> dict[tuple[str, str], str]:
    routes = {}
    for lid in resources_of_type(SAM_FUNCTION):
        for name, event in function_events(lid, ("HttpApi", "Api")).items():
            props = event.get("Properties", {})
            key = (str(props.get("Method", "")).upper(), props.get("Path"))
            assert key not in routes, f"route {key} is declared twice ({routes.get(key)} and {lid})"
            routes[key] = lid
    return routes


def test_http_routes_are_exactly_those_of_stack_layout():
    expected = {route: fn.logical_id for fn in LAYOUT.functions for route in fn.routes}
    actual = _template_routes()
    assert actual == expected, (
        f"HTTP routes differ from docs/stack-layout.md: missing "
        f"{sorted(set(expected) - set(actual))}, extra {sorted(set(actual) - set(expected))}, "
        f"wrong function {sorted(k for k in expected if k in actual and actual[k] != expected[k])}"
    )


@pytest.mark.parametrize(
    "method, path, function",
    [
        ("POST", "/jushuitan/cancel_callback", "CancelCallbackFunction"),
        ("POST", "/jushuitan/cancal_callback", "CancelCallbackFunction"),
        ("GET", "/health", "HealthFunction"),
    ],
)
def test_route_that_merchants_and_probes_rely_on_exists(method, path, function):
    assert _template_routes().get((method, path)) == function, (
        f"{method} {path} does not reach {function}: JST pushes or uptime checks would get 404"
    )


def test_every_route_is_on_the_explicit_http_api():
    assert RESOURCES.get("HttpApi", {}).get("Type") == "AWS::Serverless::HttpApi", (
        "template.yaml has no explicit AWS::Serverless::HttpApi named HttpApi"
    )
    for lid in resources_of_type(SAM_FUNCTION):
        for name, event in function_events(lid, ("HttpApi", "Api")).items():
            assert event["Type"] == "HttpApi", f"{lid}.{name} is a REST Api event, not HttpApi"
            api = referenced_id(event.get("Properties", {}).get("ApiId"))
            assert api == "HttpApi", f"{lid}.{name} is not on HttpApi (ApiId {api}): it would get its own URL"


# ----------------------------------------------------------------- queues


def _queue_consumers() -> dict[str, list[str]]:
    consumers: dict[str, list[str]] = {}
    for lid in resources_of_type(SAM_FUNCTION):
        for event in function_events(lid, "SQS").values():
            queue = referenced_id(event["Properties"]["Queue"])
            consumers.setdefault(queue, []).append(lid)
    for mapping in resources_of_type("AWS::Lambda::EventSourceMapping").values():
        props = mapping["Properties"]
        queue = referenced_id(props.get("EventSourceArn"))
        if queue in resources_of_type(SQS_QUEUE):
            consumers.setdefault(queue, []).append(referenced_id(props.get("FunctionName")))
    return consumers


def _dlq_ids() -> set[str]:
    return {
        referenced_id(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for q in resources_of_type(SQS_QUEUE).values()
        if "RedrivePolicy" in q.get("Properties", {})
    }


def test_retry_worker_consumes_retry_queue_as_stack_layout_says():
    """And every other queue consumer its queue, with the batch size the layout gives."""
    for fn in LAYOUT.functions:
        if not fn.sqs_queue:
            continue
        events = function_events(fn.logical_id, "SQS")
        assert events, f"{fn.logical_id} has no SQS event"
        (event,) = events.values()
        props = event["Properties"]
        assert referenced_id(props["Queue"]) == fn.sqs_queue, f"{fn.logical_id} does not consume {fn.sqs_queue}"
        batch = int(re.search(r"batch (\d+)", fn.trigger).group(1))
        assert props.get("BatchSize") == batch, f"{fn.logical_id} BatchSize is {props.get('BatchSize')}, not {batch}"
        assert "ReportBatchItemFailures" in props.get("FunctionResponseTypes", []), (
            f"{fn.logical_id} lacks ReportBatchItemFailures: one bad message would replay its whole batch"
        )


def test_queue_visibility_is_at_least_six_times_each_consumer_timeout():
    consumers = _queue_consumers()
    assert consumers, "no function consumes an SQS queue"
    for queue, functions in consumers.items():
        visibility = RESOURCES[queue].get("Properties", {}).get("VisibilityTimeout", 30)
        for lid in functions:
            timeout = function_properties(lid).get("Timeout", LAMBDA_DEFAULT_TIMEOUT)
            assert visibility >= 6 * timeout, (
                f"{queue} VisibilityTimeout {visibility}s < 6 × {lid} Timeout {timeout}s: messages "
                f"being retried by Lambda would be delivered twice"
            )


def test_every_queue_that_is_not_a_dlq_redrives_to_a_queue_in_the_template():
    queues = resources_of_type(SQS_QUEUE)
    dlqs = _dlq_ids()
    for lid, queue in queues.items():
        if lid in dlqs:
            continue
        redrive = queue.get("Properties", {}).get("RedrivePolicy")
        assert redrive, f"{lid} has no RedrivePolicy: a poison message would loop until it expires"
        target = referenced_id(redrive.get("deadLetterTargetArn"))
        assert target in queues, f"{lid} redrives to {target}, which is not a queue of template.yaml"
        assert int(redrive.get("maxReceiveCount", 0)) >= 1, f"{lid} RedrivePolicy has no maxReceiveCount"


def test_retry_queue_redrives_to_retry_dlq_after_five_receives():
    redrive = RESOURCES["RetryQueue"]["Properties"]["RedrivePolicy"]
    assert referenced_id(redrive["deadLetterTargetArn"]) == "RetryDLQ", "RetryQueue does not redrive to RetryDLQ"
    assert redrive["maxReceiveCount"] == 5, f"RetryQueue maxReceiveCount is {redrive['maxReceiveCount']}, not 5"


def test_every_dlq_keeps_messages_at_least_as_long_as_its_source_queue():
    queues = resources_of_type(SQS_QUEUE)
    for lid, queue in queues.items():
        props = queue.get("Properties", {})
        if "RedrivePolicy" not in props:
            continue
        dlq = referenced_id(props["RedrivePolicy"]["deadLetterTargetArn"])
        source_retention = props.get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION)
        dlq_retention = queues[dlq].get("Properties", {}).get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION)
        assert dlq_retention >= source_retention, (
            f"{dlq} keeps messages {dlq_retention}s, less than {lid}'s {source_retention}s: "
            "a dead letter could expire before it is seen"
        )


def test_retry_dlq_keeps_dead_letters_fourteen_days():
    retention = RESOURCES["RetryDLQ"]["Properties"].get("MessageRetentionPeriod")
    assert retention == 1209600, f"RetryDLQ retention is {retention}s, stack-layout.md says 14 days (1209600)"


def test_ledger_facts_waiting_for_the_writer_are_kept_fourteen_days():
    """A fact on LedgerQueue is in the ledger only there until ledger_writer stores it: SQS's 4-day
    default would drop the facts of a writer stopped over a long holiday."""
    for queue in ("LedgerQueue", "LedgerDLQ"):
        retention = RESOURCES[queue]["Properties"].get("MessageRetentionPeriod")
        assert retention == 1209600, f"{queue} retention is {retention}s, stack-layout.md says 14 days (1209600)"


def test_queues_are_encrypted():
    for lid, queue in resources_of_type(SQS_QUEUE).items():
        props = queue.get("Properties", {})
        assert props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId"), f"{lid} is not encrypted at rest"


# ----------------------------------------------------------------- schedules

_CRON = re.compile(r"^cron\((?P<fields>[^)]*)\)$")
_RATE = re.compile(r"^rate\((?P<value>\d+) (?P<unit>minute|minutes|hour|hours|day|days)\)$")


def _schedules() -> list[tuple[str, dict]]:
    """(where, properties) of every SAM Schedule/ScheduleV2 event and AWS::Scheduler::Schedule."""
    found = []
    for lid in resources_of_type(SAM_FUNCTION):
        for name, event in function_events(lid, ("ScheduleV2", "Schedule")).items():
            found.append((f"{lid}.{name}", event.get("Properties", {})))
    for lid, res in resources_of_type("AWS::Scheduler::Schedule", "AWS::Events::Rule").items():
        if "ScheduleExpression" in res.get("Properties", {}):
            found.append((lid, res["Properties"]))
    return found


def _expression_problem(expression: str) -> str | None:
    if _RATE.match(expression):
        value = int(_RATE.match(expression).group("value"))
        return None if value >= 1 else "rate must be at least 1"
    match = _CRON.match(expression)
    if not match:
        return "neither cron(...) nor rate(...)"
    fields = match.group("fields").split()
    if len(fields) != 6:
        return f"has {len(fields)} fields, AWS cron needs 6 (min hour dom month dow year)"
    if sum(field.count("?") for field in fields) != 1:
        return "needs exactly one '?'"
    if "?" not in (fields[2], fields[4]):
        return "'?' must be in day-of-month or day-of-week"
    return None


def test_schedules_exist_for_every_scheduled_function_of_stack_layout():
    assert {fn.logical_id for fn in LAYOUT.functions if fn.schedule} <= {
        where.split(".")[0] for where, _ in _schedules()
    }, "a scheduled function of docs/stack-layout.md has no schedule in template.yaml"


@pytest.mark.parametrize("where, props", _schedules(), ids=[w for w, _ in _schedules()])
def test_schedule_expression_is_a_valid_aws_cron_or_rate(where, props):
    expression = props.get("ScheduleExpression", "")
    problem = _expression_problem(expression)
    assert problem is None, f"{where} ScheduleExpression {expression!r} {problem}: the deploy would fail"


@pytest.mark.parametrize("where, props", _schedules(), ids=[w for w, _ in _schedules()])
def test_schedule_timezone_is_a_real_iana_zone(where, props):
    tz = props.get("ScheduleExpressionTimezone")
    assert tz, f"{where} has no ScheduleExpressionTimezone: it would run on UTC, 8 hours off"
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        pytest.fail(f"{where} ScheduleExpressionTimezone {tz!r} is not a known time zone: {exc}")


def test_each_function_schedule_matches_stack_layout():
    for fn in LAYOUT.functions:
        if not fn.schedule:
            continue
        events = function_events(fn.logical_id, "ScheduleV2")
        assert len(events) == 1, f"{fn.logical_id} should have one ScheduleV2 event, has {list(events)}"
        props = next(iter(events.values()))["Properties"]
        actual = (props.get("ScheduleExpression"), props.get("ScheduleExpressionTimezone"))
        assert actual == fn.schedule, f"{fn.logical_id} runs at {actual}, stack-layout.md says {fn.schedule}"


def test_nightly_stock_push_runs_at_0210_beijing_time():
    (event,) = function_events("NightlyStockPushFunction", "ScheduleV2").values()
    props = event["Properties"]
    assert props["ScheduleExpression"] == "cron(10 2 * * ? *)", "nightly_stock_push is not at 02:10"
    assert props["ScheduleExpressionTimezone"] == "Asia/Shanghai", "nightly_stock_push is not on Beijing time"


def _stack_names_from_samconfig() -> list[str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    return [
        env["global"]["parameters"]["stack_name"]
        for env in config.values()
        if isinstance(env, dict) and "stack_name" in env.get("global", {}).get("parameters", {})
    ]


@pytest.mark.parametrize("where, props", _schedules(), ids=[w for w, _ in _schedules()])
def test_schedule_name_is_unique_per_stack_and_fits_64_chars(where, props):
    name = sub_text(props.get("Name"))
    assert name and "${AWS::StackName}" in name, (
        f"{where} Name {props.get('Name')!r} lacks ${{AWS::StackName}}: two stages in one account would clash"
    )
    for stack in _stack_names_from_samconfig():
        resolved = name.replace("${AWS::StackName}", stack)
        assert len(resolved) <= 64, f"{where} name {resolved!r} is over 64 characters for stack {stack}"
        assert re.fullmatch(r"[0-9a-zA-Z-_.]+", resolved), f"{where} name {resolved!r} has invalid characters"


def test_schedule_names_differ():
    names = [sub_text(props.get("Name")) for _, props in _schedules()]
    assert len(names) == len(set(names)), f"two schedules share a name: {names}"


@pytest.mark.parametrize("where, props", _schedules(), ids=[w for w, _ in _schedules()])
def test_schedule_runs_on_time_and_retries_delivery(where, props):
    window = props.get("FlexibleTimeWindow", {}).get("Mode")
    assert window == "OFF", f"{where} FlexibleTimeWindow is {window!r}: runs could drift from their minute"
    assert props.get("RetryPolicy"), f"{where} has no RetryPolicy"


# ----------------------------------------------------------------- layer


def test_layer_architecture_and_build_match_every_function():
    layer = RESOURCES[LAYER_ID]
    props = layer["Properties"]
    build = (ROOT / "scripts" / "build_layer.sh").read_text(encoding="utf-8")
    for lid, fn in sam_functions().items():
        assert props.get("CompatibleArchitectures") == fn["Architectures"] == ["arm64"], (
            f"{LAYER_ID} CompatibleArchitectures {props.get('CompatibleArchitectures')} != {lid} {fn['Architectures']}"
        )
        assert fn["Runtime"] in props.get("CompatibleRuntimes", []), f"{LAYER_ID} is not compatible with {lid}"
        # native wheels (pydantic-core) are fetched for the functions' CPU and Python, not this machine's
        assert 'PLATFORM="${LAYER_PLATFORM:-manylinux2014_aarch64}"' in build
        assert f'RUNTIME_VERSION="${{LAYER_PYTHON_VERSION:-{fn["Runtime"].removeprefix("python")}}}"' in build


def test_layer_is_what_build_layer_makes_from_layers_shared():
    assert RESOURCES[LAYER_ID]["Properties"]["ContentUri"].rstrip("/") == "build/layer"
    assert "Metadata" not in RESOURCES[LAYER_ID], "no sam build method: sam build's python builder needs python3.12"
    shared = ROOT / "layers" / "shared"
    assert (shared / "requirements.lock").is_file(), "layers/shared/requirements.lock is missing: run make lock"
    assert not (shared / "python").exists()
    assert (shared / "o2o_bridge" / "__init__.py").is_file(), "layers/shared/o2o_bridge is not a package"


def test_layer_lock_pins_every_requirement_with_hashes_and_leaves_boto_to_the_runtime():
    lock = (ROOT / "layers" / "shared" / "requirements.lock").read_text(encoding="utf-8")
    pinned = {_requirement_name(line) for line in lock.splitlines() if re.match(r"^[A-Za-z0-9]", line)}
    wanted = {_requirement_name(line) for line in (ROOT / "layers" / "shared" / "requirements.txt")
              .read_text(encoding="utf-8").splitlines() if line.strip() and not line.lstrip().startswith("#")}
    assert wanted <= pinned, f"run make lock: {sorted(wanted - pinned)} are not in requirements.lock"
    assert not pinned & {"boto3", "botocore", "s3transfer"}, "the layer would shadow the runtime's boto3"
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n", 1)[1]):
        if re.match(r"^[A-Za-z0-9]", block):
            assert "--hash=sha256:" in block, f"no hash for {block.splitlines()[0]}"


def _requirement_name(line: str) -> str:
    return re.split(r"[\s<>=!~;\[]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_layer_requirements_are_all_project_dependencies():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project_deps = {_requirement_name(dep) for dep in pyproject["project"]["dependencies"]}
    lines = (ROOT / "layers" / "shared" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    layer_deps = {_requirement_name(line) for line in lines if line.strip() and not line.lstrip().startswith("#")}
    missing = layer_deps - project_deps
    assert not missing, (
        f"layers/shared/requirements.txt has {sorted(missing)} that pyproject.toml [project].dependencies lacks: "
        "Lambda would run with libraries the tests never installed"
    )


# ----------------------------------------------------------------- observability


def _log_group_of(lid: str, props: dict) -> dict | None:
    group = referenced_id(props.get("LoggingConfig", {}).get("LogGroup"))
    if group:
        return RESOURCES.get(group)
    for res in resources_of_type("AWS::Logs::LogGroup").values():
        name = res.get("Properties", {}).get("LogGroupName")
        if sub_text(name) == f"/aws/lambda/${{{lid}}}":
            return res
    return None


def test_every_function_logs_to_its_own_log_group_with_retention():
    seen = {}
    for lid, props in sam_functions().items():
        group = _log_group_of(lid, props)
        assert group and group["Type"] == "AWS::Logs::LogGroup", (
            f"{lid} has no log group of its own: Lambda would create one that keeps logs forever"
        )
        retention = group["Properties"].get("RetentionInDays")
        assert retention is not None, f"{lid}'s log group has no RetentionInDays"
        assert id(group) not in seen, f"{lid} and {seen.get(id(group))} share a log group"
        seen[id(group)] = lid


def test_log_retention_parameter_allows_only_cloudwatch_values():
    param = TEMPLATE["Parameters"]["LogRetentionDays"]
    assert param.get("Default") == 30
    assert {int(v) for v in param["AllowedValues"]} <= CLOUDWATCH_RETENTION_DAYS, (
        "LogRetentionDays allows a value CloudWatch Logs rejects"
    )


def _alarms() -> dict[str, dict]:
    return {lid: res["Properties"] for lid, res in resources_of_type("AWS::CloudWatch::Alarm").items()}


def test_every_function_has_an_errors_alarm():
    for lid in resources_of_type(SAM_FUNCTION):
        matching = [
            props
            for props in _alarms().values()
            if props.get("Namespace") == "AWS/Lambda"
            and props.get("MetricName") == "Errors"
            and any(referenced_id(d.get("Value")) == lid for d in props.get("Dimensions", []))
        ]
        assert matching, f"{lid} has no Errors alarm: its failures would go unnoticed"
        props = matching[0]
        assert props.get("Statistic") == "Sum" and props.get("Threshold") == 1, f"{lid} Errors alarm is not Sum ≥ 1"
        assert props.get("ComparisonOperator") == "GreaterThanOrEqualToThreshold", f"{lid} Errors alarm is not ≥"
        assert props.get("Period") == 300, f"{lid} Errors alarm period is not 5 minutes"
        assert props.get("TreatMissingData") == "notBreaching", f"{lid} Errors alarm fires when the function is idle"


def test_every_dlq_alarms_again_for_each_new_letter():
    # Not "depth >= 1", which fires once and stays red: a second letter would page nobody.
    for dlq in _dlq_ids():
        matching = []
        for props in _alarms().values():
            stats = {m["Id"]: m["MetricStat"] for m in props.get("Metrics", []) if "MetricStat" in m}
            names = {(st["Metric"]["MetricName"], referenced_id(st["Metric"]["Dimensions"][0]["Value"]))
                     for st in stats.values()}
            if ("NumberOfMessagesSent", dlq) in names and ("ApproximateNumberOfMessagesVisible", dlq) in names:
                matching.append(props)
        assert matching, f"{dlq} has no new-letter alarm: dead letters would pile up unseen"
        (props,) = matching
        (expression,) = [m["Expression"] for m in props["Metrics"] if m.get("ReturnData")]
        assert "DIFF(" in expression and "sent" in expression  # a rise in depth, or a letter sent
        assert props["Threshold"] == 1 and props["TreatMissingData"] == "notBreaching"


def test_alarms_notify_the_topic_only_when_one_is_given():
    assert _param_default("AlarmTopicArn") == "", "AlarmTopicArn should default to empty"
    for lid, props in _alarms().items():
        actions = props.get("AlarmActions")
        assert isinstance(actions, dict) and actions.get("Fn::If", [None])[0] == "HasAlarmTopic", (
            f"{lid} AlarmActions are not conditional on HasAlarmTopic: deploys without a topic would fail"
        )


# ----------------------------------------------------------------- data


def _table(lid: str) -> dict:
    resource = RESOURCES.get(lid)
    assert resource and resource["Type"] == "AWS::DynamoDB::Table", f"{lid} is not a DynamoDB table"
    return resource["Properties"]


@pytest.mark.parametrize("lid", sorted(resources_of_type("AWS::DynamoDB::Table")))
def test_table_is_on_demand_encrypted_recoverable_and_expiring(lid):
    props = _table(lid)
    assert props.get("BillingMode") == "PAY_PER_REQUEST", f"{lid} is not PAY_PER_REQUEST"
    assert props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is True, (
        f"{lid} has no point-in-time recovery"
    )
    assert props.get("SSESpecification", {}).get("SSEEnabled") is True, f"{lid} has no SSESpecification"
    assert props.get("TimeToLiveSpecification", {}).get("Enabled") is True, f"{lid} has no TTL"


@pytest.mark.parametrize("lid", ["StateTable", "IdempotencyTable"])
def test_table_keys_and_ttl_match_stack_layout(lid):
    props = _table(lid)
    documented = LAYOUT.data[lid]
    gsi_doc = re.search(r"GSI `(\w+)` on `(\w+)` \(S\) / `(\w+)` \(S\)", documented)
    primary_doc = documented[: gsi_doc.start()] if gsi_doc else documented
    keys = {k["AttributeName"]: k["KeyType"] for k in props["KeySchema"]}
    expected = {name: kind.upper() for name, kind in re.findall(r"`(\w+)` \(S, (hash|range)\)", primary_doc)}
    assert keys == expected, f"{lid} keys {keys} differ from stack-layout.md {expected}"
    attributes = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    ttl = re.search(r"TTL `(\w+)`", documented).group(1)
    assert props["TimeToLiveSpecification"]["AttributeName"] == ttl, f"{lid} TTL attribute is not {ttl}"
    indexes = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
    if gsi_doc:
        name, hash_key, range_key = gsi_doc.groups()
        assert name in indexes, f"{lid} has no GSI {name}"
        gsi_keys = {k["AttributeName"]: k["KeyType"] for k in indexes[name]["KeySchema"]}
        assert gsi_keys == {hash_key: "HASH", range_key: "RANGE"}, f"{lid} GSI {name} keys are {gsi_keys}"
        assert indexes[name]["Projection"]["ProjectionType"] == "ALL", f"{lid} GSI {name} does not project ALL"
        expected_attrs = set(expected) | {hash_key, range_key}
    else:
        assert not indexes, f"{lid} has GSIs stack-layout.md does not document"
        expected_attrs = set(expected)
    assert attributes == {a: "S" for a in expected_attrs}, f"{lid} AttributeDefinitions are {attributes}"


def test_state_table_survives_stack_deletion_and_replacement():
    resource = RESOURCES["StateTable"]
    assert resource.get("DeletionPolicy") == "Retain" and resource.get("UpdateReplacePolicy") == "Retain", (
        "StateTable would be deleted with the stack: tenant configuration lost"
    )


# ----------------------------------------------------------------- permissions


def _policies(lid: str) -> list:
    return RESOURCES[lid]["Properties"].get("Policies", [])


def _policy_template_targets(lid: str, template_name: str) -> set[str]:
    targets = set()
    for policy in _policies(lid):
        if isinstance(policy, dict) and template_name in policy:
            args = policy[template_name]
            targets.add(referenced_id(args.get("TableName") or args.get("QueueName")))
    return targets


# Per-function grants (tables, actions, secret paths, the token key): test_least_privilege.py.


def test_only_the_retry_worker_and_the_functions_that_park_refused_pushes_may_send_to_the_dlq():
    # The JST push callbacks, their missed-push poll and pos_events (配货/退仓 documents JST
    # refuses) acknowledge a refused input by parking it on the DLQ with the reason
    # (flows.kit.settle); nobody else writes there.
    # The polls set aside a record they cannot handle there too (flows.kit.set_aside), and the
    # ledger writer a queued message that is no ledger fact.
    senders = {lid for lid in FUNCTION_IDS if "RetryDLQ" in _policy_template_targets(lid, "SQSSendMessagePolicy")}
    assert senders == {"RetryWorkerFunction", "DeliveryCallbackFunction", "CancelCallbackFunction",
                       "ReturnGoodsCallbackFunction", "PollJstDocumentsFunction", "PosEventsFunction",
                       "PushWdtSalesFunction", "PollWdtDocumentsFunction", "QimenCallbackFunction",
                       "PollJstOutboundFunction", "PullJstStockFunction", "LedgerWriterFunction"}, \
        f"functions allowed to dead-letter: {sorted(senders)}"


def test_health_can_neither_write_nor_read_secrets():
    assert not _policies("HealthFunction"), "health is granted something: it reads no table and no secret"


# ----------------------------------------------------------------- parameters and outputs


@pytest.mark.parametrize(
    "name, default",
    [("Stage", "dev"), ("RetryMaxAttempts", 8), ("RetryBaseDelaySeconds", 30), ("LogRetentionDays", 30)],
)
def test_parameter_default(name, default):
    assert _param_default(name) == default, f"parameter {name} defaults to {_param_default(name)!r}, not {default!r}"


def test_every_output_of_stack_layout_exists():
    outputs = TEMPLATE.get("Outputs", {})
    missing = [name for name in LAYOUT.outputs if name not in outputs]
    assert not missing, f"outputs the CLI reads (O2O_STACK) are missing: {missing}"


def test_function_name_outputs_point_at_their_function():
    outputs = TEMPLATE["Outputs"]
    for lid in FUNCTION_IDS:
        assert referenced_id(outputs[f"{lid}Name"]["Value"]) == lid, f"output {lid}Name does not !Ref {lid}"


def test_http_api_url_output_is_the_api_endpoint_attribute():
    # The API's own attribute, right in every partition (amazonaws.com.cn included), with the
    # trailing slash the callback URLs are appended to.
    value = sub_text(TEMPLATE["Outputs"]["HttpApiUrl"]["Value"])
    assert value == "${HttpApi.ApiEndpoint}/", (
        f"HttpApiUrl is {value!r}: the callback URLs merchants paste into JST would be wrong"
    )


def _scheduled_functions() -> list[str]:
    return sorted(lid for lid in resources_of_type(SAM_FUNCTION) if function_events(lid, ("ScheduleV2", "Schedule")))


@pytest.mark.parametrize("lid", _scheduled_functions())
def test_a_scheduled_function_is_never_retried_blindly_and_runs_each_tenant_from_its_own_fifo_queue(lid):
    """Lambda retries a failed asynchronous invocation twice unless told not to: one failing
    tenant would re-run every tenant. The firing only fans out; the tenants' runs come from the
    function's own FIFO queue, one per invocation, and a crashed run is not re-run."""
    retries = function_properties(lid).get("EventInvokeConfig", {}).get("MaximumRetryAttempts")
    assert retries == 0, f"{lid} EventInvokeConfig.MaximumRetryAttempts is {retries!r}, not 0"
    (event,) = function_events(lid, "SQS").values()
    props = event["Properties"]
    assert props.get("BatchSize") == 1 and "ReportBatchItemFailures" in props.get("FunctionResponseTypes", [])
    queue = RESOURCES[referenced_id(props["Queue"])]["Properties"]
    assert queue.get("FifoQueue") is True, f"{lid}'s tenant runs are not a FIFO queue"
    redrive = queue["RedrivePolicy"]
    assert referenced_id(redrive["deadLetterTargetArn"]) == "TenantRunsDLQ" and int(redrive["maxReceiveCount"]) == 1
