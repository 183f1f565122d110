"""What the template checks need to know: the raw template.yaml, the names fixed by
docs/stack-layout.md, and a few helpers that resolve SAM Globals and intrinsic references.

Read from the files themselves, never repeated by hand, so the checks follow the design.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from o2o_local.cfn_yaml import load_cfn_file as load

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
STACK_LAYOUT_PATH = ROOT / "docs" / "stack-layout.md"

SAM_FUNCTION = "AWS::Serverless::Function"
SQS_QUEUE = "AWS::SQS::Queue"
SQS_DEFAULT_RETENTION = 345600  # seconds, when MessageRetentionPeriod is absent
LAMBDA_DEFAULT_TIMEOUT = 3


# ----------------------------------------------------------------- docs/stack-layout.md
@dataclass
class DesignFunction:
    short_name: str
    logical_id: str
    trigger: str
    routes: list[tuple[str, str]] = field(default_factory=list)  # (METHOD, /path)
    schedule: tuple[str, str] | None = None  # (expression, timezone)
    sqs_queue: str | None = None


@dataclass
class StackLayout:
    functions: list[DesignFunction]
    data: dict[str, str]  # logical id -> "keys / attributes" cell
    environment: dict[str, str]  # variable -> value in AWS (as written, backticks removed)
    outputs: list[str]


def _section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/stack-layout.md has no '## {heading}' section"
    return match.group(1)


def _table_rows(section: str) -> list[list[str]]:
    rows = []
    for line in section.splitlines():
        if not line.startswith("|") or re.match(r"^\|[\s|:-]+\|$", line):
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[1:]  # without the header row


def _unquote(cell: str) -> str:
    match = re.search(r"`([^`]*)`", cell)
    return match.group(1) if match else cell


def parse_stack_layout(text: str) -> StackLayout:
    functions = []
    for short, logical, trigger in _table_rows(_section(text, "Functions")):
        fn = DesignFunction(_unquote(short), _unquote(logical), trigger)
        fn.routes = re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`]+)`", trigger)
        schedule = re.search(r"ScheduleV2 `((?:cron|rate)\([^`]*\))` (\S+)", trigger)
        if schedule:
            fn.schedule = (schedule.group(1), schedule.group(2))
        sqs = re.search(r"SQS `(\w+)`", trigger)
        if sqs:
            fn.sqs_queue = sqs.group(1)
        functions.append(fn)
    data = {_unquote(row[0]): row[2] for row in _table_rows(_section(text, "Data and queues"))}
    environment = {
        _unquote(row[0]): _unquote(row[1])
        for row in _table_rows(_section(text, "Environment of every function"))
    }
    outputs_text = _section(text, "Stack outputs")
    outputs = [name for name in re.findall(r"`([^`]+)`", outputs_text) if re.fullmatch(r"\w+", name)]
    if "<LogicalId>Name" in outputs_text:
        outputs += [f"{fn.logical_id}Name" for fn in functions]
    return StackLayout(functions, data, environment, outputs)


LAYOUT = parse_stack_layout(STACK_LAYOUT_PATH.read_text(encoding="utf-8"))


# ----------------------------------------------------------------- template.yaml
def load_template() -> dict[str, Any]:
    return load(TEMPLATE_PATH)


TEMPLATE = load_template()
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE.get("Resources", {})


def resources_of_type(*types: str) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in RESOURCES.items() if res.get("Type") in types}


def _merge_globals(global_value: Any, own_value: Any) -> Any:
    # SAM Globals: maps merge, lists are concatenated (globals first), scalars are overridden.
    if isinstance(global_value, dict) and isinstance(own_value, dict):
        merged = copy.deepcopy(global_value)
        for key, value in own_value.items():
            merged[key] = _merge_globals(merged[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(own_value, list):
        return global_value + own_value
    return own_value


def function_properties(logical_id: str) -> dict[str, Any]:
    """Properties of a SAM function as deployed, i.e. with Globals.Function applied."""
    globals_ = TEMPLATE.get("Globals", {}).get("Function", {})
    own = RESOURCES[logical_id].get("Properties", {})
    return _merge_globals(globals_, own)


def sam_functions() -> dict[str, dict[str, Any]]:
    return {lid: function_properties(lid) for lid in resources_of_type(SAM_FUNCTION)}


def referenced_id(value: Any) -> str | None:
    """The logical id behind !Ref X, !GetAtt X.Attr or "X" (a plain logical id)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return target[0] if isinstance(target, list) else str(target).split(".")[0]
        return None
    if isinstance(value, str) and value in RESOURCES:
        return value
    return None


def function_events(logical_id: str, event_type: str | tuple[str, ...]) -> dict[str, dict]:
    types = (event_type,) if isinstance(event_type, str) else event_type
    events = RESOURCES[logical_id].get("Properties", {}).get("Events", {}) or {}
    return {name: ev for name, ev in events.items() if ev.get("Type") in types}


def sub_text(value: Any) -> str | None:
    """The string of a plain string or of a !Sub without a variable map."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return None
