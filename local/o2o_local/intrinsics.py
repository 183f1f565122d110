"""Resolution of CloudFormation intrinsic functions against known values.

``refs`` maps what a ``Ref`` can name (parameters, resources, pseudo parameters such as
``AWS::Region``) to a value, and ``"<LogicalId>.<Attribute>"`` to what ``Fn::GetAtt``
returns. ``conditions`` holds the template's Conditions section (evaluated lazily with
the same refs); ``mappings`` its Mappings section.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


class UnresolvedIntrinsic(KeyError):
    """A Ref, GetAtt or Sub variable the refs do not know, or an unsupported function."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the sentence readable
        return str(self.args[0]) if self.args else ""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def resolve(
    value: Any,
    refs: Mapping[str, Any],
    *,
    conditions: Mapping[str, Any] | None = None,
    mappings: Mapping[str, Any] | None = None,
) -> Any:
    """Return ``value`` with every intrinsic function replaced by its value."""
    result = _Resolver(refs, conditions or {}, mappings or {}).resolve(value)
    return None if result is NO_VALUE else result


class _Resolver:
    def __init__(self, refs: Mapping[str, Any], conditions: Mapping[str, Any], mappings: Mapping[str, Any]):
        self.refs = refs
        self.conditions = conditions
        self.mappings = mappings
        self._condition_values: dict[str, bool] = {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Condition" and isinstance(argument, str):
                return self.condition(argument)
            if key.startswith("Fn::"):
                method = getattr(self, "fn_" + key[4:].lower(), None)
                if method is None:
                    raise UnresolvedIntrinsic(f"{key} is not supported by the local resolver")
                return method(argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    # -- references -------------------------------------------------------------------
    def ref(self, name: Any) -> Any:
        name = self.resolve(name)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name not in self.refs:
            raise UnresolvedIntrinsic(f"Ref {name!r}: no such parameter, resource or pseudo parameter")
        return self.refs[name]

    def fn_getatt(self, argument: Any) -> Any:
        argument = self.resolve(argument)
        if isinstance(argument, str):
            resource, _, attribute = argument.partition(".")
        else:
            resource, attribute = argument[0], ".".join(str(part) for part in argument[1:])
        key = f"{resource}.{attribute}"
        if key not in self.refs:
            raise UnresolvedIntrinsic(f"Fn::GetAtt {key}: unknown resource attribute")
        return self.refs[key]

    def fn_sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {k: self.resolve(v) for k, v in argument[1].items()}
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if name in self.refs:
                return str(self.refs[name])
            if "." in name:
                return str(self.fn_getatt(name))
            raise UnresolvedIntrinsic(f"Fn::Sub variable ${{{name}}}: unknown name")

        return _SUB_VARIABLE.sub(replace, text)

    # -- lists and strings ---------------------------------------------------------------
    def fn_join(self, argument: Any) -> str:
        delimiter, items = argument
        return str(delimiter).join(str(item) for item in self.resolve(items))

    def fn_select(self, argument: Any) -> Any:
        index, items = argument
        return self.resolve(items)[int(self.resolve(index))]

    def fn_split(self, argument: Any) -> list[str]:
        delimiter, text = argument
        return str(self.resolve(text)).split(delimiter)

    def fn_findinmap(self, argument: Any) -> Any:
        name, top, second = (self.resolve(part) for part in argument[:3])
        try:
            return self.mappings[name][top][second]
        except KeyError:
            raise UnresolvedIntrinsic(f"Fn::FindInMap {name}/{top}/{second}: no such entry") from None

    def fn_getazs(self, argument: Any) -> list[str]:
        region = self.resolve(argument) or self.refs.get("AWS::Region", "us-east-1")
        return [f"{region}a", f"{region}b", f"{region}c"]

    # -- conditions ------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            if name not in self.conditions:
                raise UnresolvedIntrinsic(f"Condition {name!r} is not defined in the template")
            self._condition_values[name] = bool(self.resolve(self.conditions[name]))
        return self._condition_values[name]

    def fn_if(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def fn_equals(self, argument: Any) -> bool:
        left, right = (self.resolve(part) for part in argument)
        return str(left) == str(right)

    def fn_not(self, argument: Any) -> bool:
        return not self._truth(argument[0])

    def fn_and(self, argument: Any) -> bool:
        return all(self._truth(item) for item in argument)

    def fn_or(self, argument: Any) -> bool:
        return any(self._truth(item) for item in argument)

    def _truth(self, item: Any) -> bool:
        if isinstance(item, dict) and set(item) == {"Condition"}:
            return self.condition(item["Condition"])
        return bool(self.resolve(item))
