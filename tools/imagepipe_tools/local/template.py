"""Reading template.yaml: CloudFormation short-form tags and intrinsic functions.

The template is the single source of truth for names and wiring; this module turns it
into plain values given the physical ids the local stack assigns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

PSEUDO_PARAMETERS = {
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
NO_VALUE = object()


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(name: str) -> Callable[[yaml.Loader, yaml.Node], dict[str, Any]]:
    full = "Ref" if name == "Ref" else f"Fn::{name}"

    def construct(loader: yaml.Loader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {full: value}

    return construct


for _name in ("Ref", "Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Select", "Split", "Join",
              "FindInMap", "Base64", "ImportValue", "GetAZs", "Condition", "Cidr"):
    _CfnLoader.add_constructor(f"!{_name}", _tag(_name))


def load(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


class Resolver:
    """Evaluates intrinsic functions against parameters and a resource lookup.

    ``ref(logical_id)`` and ``attr(logical_id, name)`` are called for resources, which
    lets the local stack create a resource the first time something refers to it.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        *,
        region: str,
        stack_name: str,
        ref: Callable[[str], str],
        attr: Callable[[str, str], str],
    ) -> None:
        self._template = template
        self._conditions = template.get("Conditions", {})
        self._values = {
            **PSEUDO_PARAMETERS,
            "AWS::Region": region,
            "AWS::StackName": stack_name,
            **parameters,
        }
        self._ref = ref
        self._attr = attr

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self(item) for item in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            handler = _INTRINSICS.get(key)
            if handler is not None:
                return handler(self, arg)
        return {k: v for k, v in ((k, self(v)) for k, v in value.items()) if v is not NO_VALUE}

    def condition(self, name: str) -> bool:
        return bool(self(self._conditions[name]))

    def _ref_value(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._values:
            return self._values[name]
        return self._ref(name)

    def _sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self(arg[1]))

        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token.startswith("!"):
                return "${" + token[1:] + "}"
            if token in extra:
                return str(extra[token])
            if "." in token and token.split(".", 1)[0] not in self._values:
                logical, attribute = token.split(".", 1)
                return str(self._attr(logical, attribute))
            return str(self._ref_value(token))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


_INTRINSICS: dict[str, Callable[[Resolver, Any], Any]] = {
    "Ref": lambda r, a: r._ref_value(a),
    "Fn::Sub": lambda r, a: r._sub(a),
    "Fn::GetAtt": lambda r, a: r._attr(*(a.split(".", 1) if isinstance(a, str) else r(a))),
    "Fn::Join": lambda r, a: str(a[0]).join(str(x) for x in r(a[1])),
    "Fn::Select": lambda r, a: r(a[1])[int(r(a[0]))],
    "Fn::Split": lambda r, a: str(r(a[1])).split(a[0]),
    "Fn::Equals": lambda r, a: r(a[0]) == r(a[1]),
    "Fn::Not": lambda r, a: not r(a[0]),
    "Fn::And": lambda r, a: all(r(x) for x in a),
    "Fn::Or": lambda r, a: any(r(x) for x in a),
    "Fn::If": lambda r, a: r(a[1]) if r.condition(a[0]) else r(a[2]),
    "Condition": lambda r, a: r.condition(a),
}


def parameter_defaults(template: Mapping[str, Any]) -> dict[str, str]:
    return {
        name: str(spec["Default"])
        for name, spec in template.get("Parameters", {}).items()
        if "Default" in spec
    }
