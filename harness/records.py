"""Reading a JSON record leniently, written once for every typed record of a run directory
(summary.json's `Summary`, run.json's `RunRecord`).

The report must render whatever an interrupted or older run left, so a value of the wrong
type reads as the field's default, and keys this version does not know are kept (and
written back unchanged) rather than dropped.
"""
from __future__ import annotations

from typing import Any

__all__ = ["NUM", "lenient_kwargs", "unknown_keys"]

#: A JSON number (bool is excluded by `lenient_kwargs`).
NUM: tuple[type, ...] = (int, float)


def lenient_kwargs(d: dict[str, Any], kinds: dict[str, tuple[type, ...]]) -> dict[str, Any]:
    """The values of `d` whose type is one of `kinds[name]`; a bool passes only where bool
    is named (JSON `true` is not a number here)."""
    kw: dict[str, Any] = {}
    for name, types in kinds.items():
        v = d.get(name)
        if isinstance(v, types) and not (isinstance(v, bool) and bool not in types):
            kw[name] = v
    return kw


def unknown_keys(d: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """The keys of `d` a record does not know, kept as they are."""
    return {k: v for k, v in d.items() if k not in known}
