"""docs/openapi/pos-api.yaml as JSON Schema validators: the sandbox checks request bodies
and events with them, and tests check requests and answers with the same file."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

OPENAPI_PATH = Path(__file__).resolve().parents[3] / "docs" / "openapi" / "pos-api.yaml"
_BASE = "urn:o2o:pos-api"


@functools.cache
def document() -> dict[str, Any]:
    import yaml

    with OPENAPI_PATH.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@functools.cache
def validator(component: str):
    """A Draft 2020-12 validator for ``#/components/schemas/<component>`` (None without jsonschema)."""
    try:
        from jsonschema import Draft202012Validator, FormatChecker
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012
    except ImportError:  # the sandbox still serves; only its body checks are skipped
        return None
    if component not in document()["components"]["schemas"]:
        raise KeyError(f"no schema {component!r} in {OPENAPI_PATH.name}")
    registry = Registry().with_resource(_BASE, Resource.from_contents(document(), default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{_BASE}#/components/schemas/{component}"}, registry=registry,
                                format_checker=FormatChecker())


def problems(component: str, instance: Any) -> list[str]:
    """Each violation as ``field.path: message`` (empty when valid)."""
    check = validator(component)
    if check is None:
        return []
    found = []
    for error in sorted(check.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        found.extend(f"{field_path(path)}: {message}" for path, message in _leaves(error))
    return list(dict.fromkeys(found))


def _leaves(error) -> list[tuple[Any, str]]:
    """The useful errors under ``error``: a oneOf wraps one error per branch, so follow the
    branch the instance meant (for PosEvent the one whose ``type`` matched, else one whose
    JSON type matched, else the one that got furthest into the instance)."""
    if not error.context:
        return [(error.absolute_path, error.message)]
    depth = len(error.absolute_path)
    branches: dict[Any, list] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0] if sub.relative_schema_path else None, []).append(sub)

    def rank(errors):
        wrong_event = any(e.validator == "const" and list(e.absolute_path)[-1:] == ["type"] for e in errors)
        wrong_kind = any(e.validator == "type" and len(e.absolute_path) == depth for e in errors)
        return (wrong_event, wrong_kind, -max(len(e.absolute_path) for e in errors))

    chosen = min(branches.values(), key=rank)
    if rank(chosen)[0]:  # no branch has this event type
        known = sorted(e.validator_value for errors in branches.values() for e in errors
                       if e.validator == "const" and list(e.absolute_path)[-1:] == ["type"])
        return [([*error.absolute_path, "type"], f"unknown event type; expected one of {', '.join(known)}")]
    return [leaf for sub in chosen for leaf in _leaves(sub)]


def field_path(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"
