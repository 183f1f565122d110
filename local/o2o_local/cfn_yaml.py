"""YAML loading for CloudFormation / SAM templates (short-form intrinsic tags)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns ``!Ref X`` into ``{"Ref": "X"}``, ``!Sub s`` into
    ``{"Fn::Sub": s}``, ``!GetAtt A.B`` into ``{"Fn::GetAtt": ["A", "B"]}`` and so on."""


def _construct_node(loader: CfnLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _construct_tag(loader: CfnLoader, tag_suffix: str, node: yaml.Node) -> Any:
    value = _construct_node(loader, node)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_tag)
# Template values such as AWSTemplateFormatVersion: 2010-09-09 stay strings.
CfnLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_cfn_yaml(text: str) -> Any:
    return yaml.load(text, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader


# Parsed documents by (file, modification time, size): the in-process stack reads the template
# on every invocation, and parsing it in pure Python takes ~0.3 s (seconds on a busy machine).
_PARSED: dict[tuple[str, int, int], Any] = {}


def load_cfn_file(path: str | Path) -> Any:
    """The file's document; a fresh copy per call, parsed again only when the file changed."""
    file = Path(path).resolve()
    stat = file.stat()
    key = (str(file), stat.st_mtime_ns, stat.st_size)
    if key not in _PARSED:
        _PARSED[key] = load_cfn_yaml(file.read_text(encoding="utf-8"))
    return copy.deepcopy(_PARSED[key])
