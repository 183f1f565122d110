"""Typed model of the SAM template: functions, routes, schedules, queues and tables.

``load_template()`` reads the repository's ``template.yaml`` (or ``$O2O_TEMPLATE``) and
returns a ``Template``. Only what the local stack needs is modelled; ``Template.document``
keeps the raw YAML for anything else.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .cfn_yaml import load_cfn_file
from .intrinsics import resolve
from .names import LOCAL_ACCOUNT_ID, LOCAL_STACK_NAME, local_bucket_name, local_name

__all__ = [
    "FunctionSpec", "QueueSpec", "Route", "ScheduleSpec", "SqsSource", "TableSpec",
    "Template", "TemplateError", "default_template_path", "load_template", "resolve",
]

SAM_FUNCTION_DEFAULTS = {"Timeout": 3, "MemorySize": 128}
QUEUE_ATTRIBUTES = (
    "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout", "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope",
    "FifoThroughputLimit", "SqsManagedSseEnabled",
)
FUNCTION_KEYS = ("CodeUri", "Handler", "Timeout", "MemorySize", "Runtime")
EVENT_KEYS = (
    "Path", "Method", "ScheduleExpression", "Schedule", "ScheduleExpressionTimezone", "Name", "Input",
    "State", "Enabled", "BatchSize", "FunctionResponseTypes",
)
TABLE_KEYS = (
    "KeySchema", "AttributeDefinitions", "BillingMode", "ProvisionedThroughput", "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes", "StreamSpecification", "TimeToLiveSpecification",
)
GSI_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")
LSI_KEYS = ("IndexName", "KeySchema", "Projection")


class TemplateError(ValueError):
    """The template cannot be read or lacks something the local stack needs."""


@dataclass(frozen=True)
class Route:
    method: str  # upper case; "ANY" matches every method
    path: str  # "/pos/events", "/items/{id}", "/files/{proxy+}" or "$default"

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class ScheduleSpec:
    expression: str  # "cron(0/2 * * * ? *)", "rate(5 minutes)", "at(2030-01-01T00:00:00)"
    timezone: str  # IANA name; "UTC" when the template gives none
    name: str
    input: Any = None  # the schedule's Input (a JSON string in the template) or None
    enabled: bool = True

    def event(self, at: datetime | None = None) -> Any:
        """The payload EventBridge Scheduler hands the function: Input if any, else {}; the
        context attributes <aws.scheduler.scheduled-time> and <aws.scheduler.execution-id> are
        filled in as the Scheduler does (the firing time, UTC, to the second)."""
        if self.input is None:
            return {}
        value = self.input
        if isinstance(value, str):
            fired = (at or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
            value = value.replace("<aws.scheduler.scheduled-time>", fired.strftime("%Y-%m-%dT%H:%M:%SZ"))
            value = value.replace("<aws.scheduler.execution-id>", uuid.uuid4().hex)
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        return value


@dataclass(frozen=True)
class SqsSource:
    queue_logical_id: str
    batch_size: int = 10
    report_batch_item_failures: bool = False
    enabled: bool = True


@dataclass
class FunctionSpec:
    logical_id: str
    name: str  # short name: the CodeUri folder (functions/<name>/)
    code_dir: Path
    handler: str = "app.lambda_handler"
    timeout: int = 3
    memory: int = 128
    runtime: str = "python3.12"
    routes: list[Route] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)
    sqs_sources: list[SqsSource] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)  # the function's own Variables, raw

    @property
    def trigger(self) -> str:
        if self.routes:
            return "http"
        if self.schedules:
            return "schedule"
        if self.sqs_sources:
            return "sqs"
        return "none"


@dataclass
class TableSpec:
    logical_id: str
    properties: dict[str, Any]

    @property
    def ttl_attribute(self) -> str | None:
        ttl = self.properties.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled") in (True, "true", "True") and ttl.get("AttributeName"):
            return str(ttl["AttributeName"])
        return None

    @property
    def billing_mode(self) -> str:
        return str(self.properties.get("BillingMode") or "PROVISIONED")

    def create_table_kwargs(self, table_name: str | None = None) -> dict[str, Any]:
        """Keyword arguments of boto3 ``dynamodb.create_table`` for this table."""
        props = self.properties
        kwargs: dict[str, Any] = {
            "TableName": table_name or local_name(self.logical_id),
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": self.billing_mode,
        }
        provisioned = self.billing_mode == "PROVISIONED"
        if provisioned:
            kwargs["ProvisionedThroughput"] = _throughput(props.get("ProvisionedThroughput"))
        gsis = []
        for index in props.get("GlobalSecondaryIndexes") or []:
            gsi = {key: index[key] for key in GSI_KEYS if key in index}
            if provisioned:
                gsi["ProvisionedThroughput"] = _throughput(index.get("ProvisionedThroughput"))
            gsis.append(gsi)
        if gsis:
            kwargs["GlobalSecondaryIndexes"] = gsis
        lsis = [{key: index[key] for key in LSI_KEYS if key in index}
                for index in props.get("LocalSecondaryIndexes") or []]
        if lsis:
            kwargs["LocalSecondaryIndexes"] = lsis
        stream = props.get("StreamSpecification")
        if stream and stream.get("StreamViewType"):
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        return kwargs


def _throughput(value: dict[str, Any] | None) -> dict[str, int]:
    value = value or {}
    return {"ReadCapacityUnits": int(value.get("ReadCapacityUnits", 5)),
            "WriteCapacityUnits": int(value.get("WriteCapacityUnits", 5))}


@dataclass
class QueueSpec:
    logical_id: str
    attributes: dict[str, str]  # boto3 create_queue Attributes, without RedrivePolicy
    redrive_target: str | None = None  # logical id of the dead-letter queue
    max_receive_count: int | None = None

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoQueue", "").lower() == "true"

    @property
    def visibility_timeout(self) -> int:
        return int(self.attributes.get("VisibilityTimeout", 30))

    def local_queue_name(self) -> str:
        return local_name(self.logical_id) + (".fifo" if self.fifo else "")


@dataclass
class Template:
    path: Path
    document: dict[str, Any]
    parameters: dict[str, Any]  # name -> Default (only parameters that have one)
    conditions: dict[str, Any]
    mappings: dict[str, Any]
    global_function: dict[str, Any]  # Globals.Function, raw
    global_environment: dict[str, Any]  # Globals.Function.Environment.Variables, raw
    functions: dict[str, FunctionSpec]  # by short name
    tables: dict[str, TableSpec]
    queues: dict[str, QueueSpec]

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def resources(self) -> dict[str, Any]:
        return self.document.get("Resources") or {}

    @property
    def buckets(self) -> list[str]:
        """Logical ids of the S3 buckets."""
        return [lid for lid, resource in self.resources.items() if (resource or {}).get("Type") == "AWS::S3::Bucket"]

    def function(self, name: str) -> FunctionSpec:
        """A function by short name or logical id; KeyError listing the known ones."""
        if name in self.functions:
            return self.functions[name]
        for spec in self.functions.values():
            if spec.logical_id == name:
                return spec
        known = ", ".join(sorted(self.functions))
        raise KeyError(f"no function {name!r} in {self.path.name}; known: {known}")

    def consumers(self) -> list[tuple[FunctionSpec, SqsSource]]:
        return [(spec, source) for spec in self.functions.values() for source in spec.sqs_sources]

    def refs(self, endpoint_url: str | None = None, region: str = "us-east-1",
             account_id: str = LOCAL_ACCOUNT_ID) -> dict[str, Any]:
        """What Ref / GetAtt resolve to in the local stack (local names, local URLs)."""
        refs: dict[str, Any] = dict(self.parameters)
        refs.update({
            "AWS::Region": region, "AWS::AccountId": account_id, "AWS::StackName": LOCAL_STACK_NAME,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{LOCAL_STACK_NAME}/local",
            "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NotificationARNs": [],
            "ServerlessHttpApi": "local",
        })
        base = (endpoint_url or f"https://sqs.{region}.amazonaws.com").rstrip("/")
        for logical_id, resource in self.resources.items():
            kind = (resource or {}).get("Type", "")
            name = local_name(logical_id)
            service = kind.split("::")[1].lower() if kind.count("::") >= 2 else "unknown"
            refs[logical_id] = name
            refs[f"{logical_id}.Arn"] = f"arn:aws:{service}:{region}:{account_id}:{name}"
            if logical_id in self.queues:
                queue_name = self.queues[logical_id].local_queue_name()
                url = f"{base}/{account_id}/{queue_name}"
                refs[logical_id] = url
                refs[f"{logical_id}.QueueUrl"] = url
                refs[f"{logical_id}.QueueName"] = queue_name
                refs[f"{logical_id}.Arn"] = f"arn:aws:sqs:{region}:{account_id}:{queue_name}"
            elif kind == "AWS::DynamoDB::Table":
                refs[f"{logical_id}.Arn"] = f"arn:aws:dynamodb:{region}:{account_id}:table/{name}"
                refs[f"{logical_id}.StreamArn"] = f"arn:aws:dynamodb:{region}:{account_id}:table/{name}/stream/local"
            elif kind == "AWS::S3::Bucket":
                refs[logical_id] = bucket_name = local_bucket_name(logical_id)
                refs[f"{logical_id}.Arn"] = f"arn:aws:s3:::{bucket_name}"
            elif kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
                refs[f"{logical_id}.Arn"] = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
            elif kind == "AWS::KMS::Alias":
                refs[logical_id] = kms_alias_name(logical_id)
        return refs

    def resolve(self, value: Any, refs: dict[str, Any] | None = None) -> Any:
        return resolve(value, self.refs() if refs is None else refs,
                       conditions=self.conditions, mappings=self.mappings)


# -- loading ---------------------------------------------------------------------------------

def kms_alias_name(logical_id: str) -> str:
    """The local stack's name for a KMS alias of the template (bootstrap creates its key)."""
    return f"alias/{local_name(logical_id)}"


def default_template_path() -> Path:
    override = os.environ.get("O2O_TEMPLATE")
    if override:
        return Path(override).expanduser().resolve()
    return (Path(__file__).resolve().parent / ".." / ".." / "template.yaml").resolve()


def load_template(path: str | Path | None = None) -> Template:
    path = Path(path).resolve() if path is not None else default_template_path()
    if not path.is_file():
        raise TemplateError(f"template not found: {path}")
    document = load_cfn_file(path)
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return _TemplateBuilder(path, document).build()


class _TemplateBuilder:
    def __init__(self, path: Path, document: dict[str, Any]):
        self.path = path
        self.document = document
        self.resources: dict[str, Any] = document["Resources"]
        self.globals = ((document.get("Globals") or {}).get("Function")) or {}
        self.template = Template(
            path=path, document=document,
            parameters={name: spec["Default"] for name, spec in (document.get("Parameters") or {}).items()
                        if isinstance(spec, dict) and "Default" in spec},
            conditions=document.get("Conditions") or {},
            mappings=document.get("Mappings") or {},
            global_function=self.globals,
            global_environment=((self.globals.get("Environment") or {}).get("Variables")) or {},
            functions={}, tables={}, queues={},
        )

    def of_type(self, *types: str) -> list[tuple[str, dict[str, Any]]]:
        return [(lid, res) for lid, res in self.resources.items()
                if isinstance(res, dict) and res.get("Type") in types]

    def build(self) -> Template:
        t = self.template
        # queues first: Template.refs() needs them to produce queue URLs
        for logical_id, resource in self.of_type("AWS::SQS::Queue"):
            t.queues[logical_id] = self.queue(logical_id, resource.get("Properties") or {})
        for logical_id, resource in self.of_type("AWS::DynamoDB::Table"):
            t.tables[logical_id] = TableSpec(logical_id, t.resolve(_pick(resource.get("Properties") or {}, TABLE_KEYS)))
        for logical_id, resource in self.of_type("AWS::Serverless::Function"):
            spec = self.function(logical_id, resource.get("Properties") or {})
            if spec.name in t.functions:
                raise TemplateError(f"{logical_id} and {t.functions[spec.name].logical_id} share CodeUri folder {spec.name!r}")
            t.functions[spec.name] = spec
        for logical_id, resource in self.of_type("AWS::Scheduler::Schedule"):
            self.scheduler_resource(logical_id, resource.get("Properties") or {})
        return t

    def queue(self, logical_id: str, props: dict[str, Any]) -> QueueSpec:
        resolved = self.template.resolve(_pick(props, QUEUE_ATTRIBUTES))
        attributes = {}
        for key in QUEUE_ATTRIBUTES:
            if key in resolved:
                value = resolved[key]
                attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
        spec = QueueSpec(logical_id, attributes)
        redrive = props.get("RedrivePolicy")
        if redrive:
            spec.redrive_target = _logical_id_of(redrive.get("deadLetterTargetArn"))
            if spec.redrive_target not in self.resources:
                raise TemplateError(f"{logical_id}: RedrivePolicy must name a queue of the template (!GetAtt X.Arn)")
            spec.max_receive_count = int(self.template.resolve(redrive.get("maxReceiveCount", 10)))
        return spec

    def function(self, logical_id: str, props: dict[str, Any]) -> FunctionSpec:
        merged = {**SAM_FUNCTION_DEFAULTS, **_pick(self.globals, FUNCTION_KEYS), **_pick(props, FUNCTION_KEYS)}
        merged = self.template.resolve(merged)
        code_uri = merged.get("CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: CodeUri must be a local folder such as functions/<name>/")
        code_dir = (self.path.parent / code_uri).resolve()
        spec = FunctionSpec(
            logical_id=logical_id, name=code_dir.name, code_dir=code_dir,
            handler=str(merged.get("Handler") or "app.lambda_handler"),
            timeout=int(merged["Timeout"]), memory=int(merged["MemorySize"]),
            runtime=str(merged.get("Runtime") or "python3.12"),
            environment=((props.get("Environment") or {}).get("Variables")) or {},
        )
        for event_name, event in (props.get("Events") or {}).items():
            self.add_event(spec, event_name, event or {})
        return spec

    def add_event(self, spec: FunctionSpec, event_name: str, event: dict[str, Any]) -> None:
        kind = event.get("Type")
        props = self.template.resolve(_pick(event.get("Properties") or {}, EVENT_KEYS))
        if kind == "HttpApi":
            if "Path" in props or "Method" in props:
                spec.routes.append(Route(str(props.get("Method", "ANY")).upper(), str(props.get("Path", "/"))))
            else:
                spec.routes.append(Route("ANY", "$default"))
        elif kind in ("ScheduleV2", "Schedule"):
            expression = props.get("ScheduleExpression") or props.get("Schedule")
            if not expression:
                raise TemplateError(f"{spec.logical_id}.{event_name}: schedule without an expression")
            enabled = props.get("State", "ENABLED") != "DISABLED" and props.get("Enabled", True) not in (False, "false")
            spec.schedules.append(ScheduleSpec(
                expression=str(expression),
                timezone=str(props.get("ScheduleExpressionTimezone") or "UTC"),
                name=str(props.get("Name") or event_name), input=props.get("Input"), enabled=enabled))
        elif kind == "SQS":
            queue = _logical_id_of((event.get("Properties") or {}).get("Queue"))
            if queue not in self.template.queues:
                raise TemplateError(f"{spec.logical_id}.{event_name}: Queue must be !GetAtt <QueueOfTheTemplate>.Arn")
            spec.sqs_sources.append(SqsSource(
                queue_logical_id=queue, batch_size=int(props.get("BatchSize", 10)),
                report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                enabled=props.get("Enabled", True) not in (False, "false")))

    def scheduler_resource(self, logical_id: str, props: dict[str, Any]) -> None:
        target = props.get("Target") or {}
        function_id = _logical_id_of(target.get("Arn"))
        spec = next((s for s in self.template.functions.values() if s.logical_id == function_id), None)
        if spec is None:
            return  # targets something other than a function of the template
        resolved = self.template.resolve(_pick(props, EVENT_KEYS))
        spec.schedules.append(ScheduleSpec(
            expression=str(resolved["ScheduleExpression"]),
            timezone=str(resolved.get("ScheduleExpressionTimezone") or "UTC"),
            name=str(resolved.get("Name") or logical_id),
            input=self.template.resolve(target.get("Input")),
            enabled=resolved.get("State", "ENABLED") != "DISABLED"))


def _pick(mapping: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: mapping[key] for key in keys if key in mapping}


def _logical_id_of(value: Any) -> str | None:
    """The logical id named by !GetAtt X.Arn, !Ref X or !Sub "${X.Arn}"."""
    if isinstance(value, dict) and len(value) == 1:
        (key, argument), = value.items()
        if key == "Ref":
            return str(argument)
        if key == "Fn::GetAtt":
            return str(argument[0] if isinstance(argument, list) else argument.split(".")[0])
        if key == "Fn::Sub" and isinstance(argument, str) and argument.startswith("${"):
            return argument[2:].split("}")[0].split(".")[0]
    return None


# A policy (SAM policy template, or an IAM action prefix) -> the boto3 service that uses it.
POLICY_SERVICES = {"DynamoDB": "dynamodb", "SQS": "sqs", "SecretsManager": "secretsmanager", "KMS": "kms", "S3": "s3",
                   "Lambda": "lambda", "Firehose": "firehose", "Athena": "athena", "CloudWatch": "cloudwatch"}
ACTION_SERVICES = {"dynamodb": "dynamodb", "sqs": "sqs", "secretsmanager": "secretsmanager", "kms": "kms", "s3": "s3",
                   "lambda": "lambda", "firehose": "firehose", "athena": "athena", "cloudwatch": "cloudwatch"}


def services_of(template: Template, function: FunctionSpec) -> list[str]:
    """The AWS services a function's policies let it call: every client it may make. Its handler
    builds exactly these at init (``runtime.ready``; tests/template checks it), and
    bench/cold_start.py times them."""
    resources = template.resources
    found: set[str] = set()

    def statements(policy):
        if isinstance(policy, dict) and "Ref" in policy:   # a managed policy defined in the template
            document = (resources.get(policy["Ref"], {}).get("Properties") or {}).get("PolicyDocument") or {}
            return document.get("Statement") or []
        if isinstance(policy, dict) and "Statement" in policy:
            return policy["Statement"]
        return []

    policies = (resources[function.logical_id].get("Properties") or {}).get("Policies") or []
    for policy in policies if isinstance(policies, list) else [policies]:
        if isinstance(policy, dict):
            for name in policy:
                for prefix, service in POLICY_SERVICES.items():
                    if name.startswith(prefix) and name.endswith("Policy"):
                        found.add(service)
        for statement in statements(policy):
            actions = statement.get("Action") or []
            for action in [actions] if isinstance(actions, str) else actions:
                service = ACTION_SERVICES.get(str(action).split(":")[0].lower())
                if service:
                    found.add(service)
    return sorted(found)
