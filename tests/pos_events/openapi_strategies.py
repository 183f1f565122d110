"""Hypothesis strategies from the JSON Schemas of docs/openapi/pos-api.yaml.

hypothesis-jsonschema is not installed, so this covers the constructs the PosEvent_*
components use: $ref, allOf (merged), oneOf, anyOf (of required lists, on an object), const,
enum, type object/array/string/integer/number/boolean/null and lists of types, required,
additionalProperties, minItems/maxItems, minLength/maxLength, pattern, minimum/maximum and
format date-time.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "pos-api.yaml"


def load_openapi() -> dict[str, Any] | None:
    return yaml.safe_load(OPENAPI.read_text(encoding="utf-8")) if OPENAPI.exists() else None


class SchemaStrategies:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.document
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
        return schema

    def merged(self, schema: dict[str, Any]) -> dict[str, Any]:
        schema = self.resolve(schema)
        if "allOf" not in schema:
            return schema
        result: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in [*schema["allOf"], {k: v for k, v in schema.items() if k != "allOf"}]:
            part = self.merged(part)
            result["properties"].update(part.get("properties", {}))  # the later, narrower schema wins
            result["required"] += [name for name in part.get("required", []) if name not in result["required"]]
        return result

    def strategy(self, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
        schema = self.merged(schema)
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        if "oneOf" in schema:
            return st.one_of([self.strategy(option) for option in schema["oneOf"]])
        if "anyOf" in schema:  # e.g. "external_id or order_no": each branch adds its required fields
            base = {k: v for k, v in schema.items() if k != "anyOf"}
            return st.one_of([self.strategy({**base, "required": [*base.get("required", []),
                                                                  *self.resolve(option).get("required", [])]})
                              for option in schema["anyOf"]])
        kind = schema.get("type")
        if isinstance(kind, list):
            return st.one_of([self.strategy({**schema, "type": one}) for one in kind])
        if kind == "null":
            return st.none()
        if kind == "object" or "properties" in schema:
            return self._object(schema)
        if kind == "array":
            return st.lists(self.strategy(schema.get("items", {})), min_size=schema.get("minItems", 0),
                            max_size=min(schema.get("maxItems", 4), 4))
        if kind == "integer":
            return st.integers(schema.get("minimum"), schema.get("maximum"))
        if kind == "number":
            return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "string":
            return self._string(schema)
        return st.none() | st.booleans() | st.integers() | st.text(max_size=8)

    def _object(self, schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        properties = schema.get("properties", {})
        required = {name: self.strategy(properties.get(name, {})) for name in schema.get("required", [])}
        optional = {name: self.strategy(s) for name, s in properties.items() if name not in required}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not properties:
            return st.dictionaries(st.text(max_size=8), self.strategy(extra), max_size=3)
        return st.fixed_dictionaries(required, optional=optional)

    def _string(self, schema: dict[str, Any]) -> st.SearchStrategy[str]:
        if schema.get("format") == "date-time":
            offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
            moments = st.datetimes(min_value=datetime(1000, 1, 1), timezones=offsets).map(lambda d: d.isoformat())
            pattern = schema.get("pattern")
            return moments.filter(lambda s: re.search(pattern, s) is not None) if pattern else moments
        low, high = schema.get("minLength", 0), schema.get("maxLength", 24)
        pattern = schema.get("pattern")
        if pattern and pattern.startswith("^"):
            return st.from_regex(pattern, fullmatch=True).filter(lambda s: low <= len(s) <= high)
        text = st.text(min_size=low, max_size=min(high, low + 24))
        return text.filter(lambda s: re.search(pattern, s) is not None) if pattern else text


def event_strategy(document: dict[str, Any], component: str = "PosEvent") -> st.SearchStrategy[dict[str, Any]]:
    return SchemaStrategies(document).strategy({"$ref": f"#/components/schemas/{component}"})


def validator(document: dict[str, Any], component: str = "PosEvent"):
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": f"#/components/schemas/{component}", "components": document["components"]})
