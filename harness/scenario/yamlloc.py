"""YAML loading that remembers where every value came from.

PyYAML's composed node tree carries start marks; we turn it into plain Python values plus a
map from the value's path (("faults", 2, "toxic")) to its 1-based line, so every validation
error can say `file:line`.
"""
from __future__ import annotations

from typing import Any

import yaml

__all__ = ["load_with_lines", "Path_", "YamlSyntaxError"]

Path_ = tuple  # ("faults", 2, "toxic")


class YamlSyntaxError(ValueError):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a silent overwrite hides mistakes)."""


def load_with_lines(text: str) -> tuple[Any, dict[tuple, int]]:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(line, f"YAML syntax: {e.problem or e}") from None
    lines: dict[tuple, int] = {}
    if node is None:
        return None, lines
    constructor = _Loader(text)

    def build(n: yaml.Node, path: tuple) -> Any:
        lines[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for k, v in n.value:
                key = constructor.construct_object(k, deep=True)
                if isinstance(key, (dict, list)):
                    raise YamlSyntaxError(k.start_mark.line + 1, "a mapping key must be a plain value")
                if key in out:
                    raise YamlSyntaxError(k.start_mark.line + 1, f"duplicate key {key!r}")
                lines[path + (key,)] = k.start_mark.line + 1
                out[key] = build(v, path + (key,))
                lines[path + (key,)] = k.start_mark.line + 1
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v, path + (i,)) for i, v in enumerate(n.value)]
        return constructor.construct_object(n, deep=True)

    try:
        return build(node, ()), lines
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        raise YamlSyntaxError(mark.line + 1 if mark else 1, f"YAML: {e.problem}") from None
