"""The registry of fault kinds, and the attribute checking they share.

Each kind is a small class with its scenario name (`toxic:` or `action:`), its attributes
with units and defaults in one place, a pure `check` and an `apply`/`undo` pair, as
Toxiproxy registers its toxics by wire name. Families: `toxic` (Toxiproxy, on a link),
`process` (signals to a service the run started, or its container; `partition`) and
`platform` (the fake platform's /_admin/faults knobs).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, ClassVar

from ..durations import DurationError, parse_duration
from ..links import LINKS

__all__ = ["Attr", "FaultKind", "register", "KINDS", "kinds_of", "LINKS", "TARGETS",
           "check_attrs", "COMMON_KEYS"]

TARGETS = ("taxplatform", "merchant")
COMMON_KEYS = {"at", "for", "link", "target", "toxic", "action", "name", "repeat", "random",
               "description"}


@dataclass(frozen=True, slots=True)
class Attr:
    """One attribute: its type ('int', 'float', 'duration', 'decimal', 'choice', 'bool')."""
    type: str
    default: Any
    doc: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()

    def convert(self, value: Any) -> Any:
        """The attribute's value in canonical form; ValueError says what is wrong."""
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"must be a whole number ({self.doc})")
            v: Any = value
        elif self.type == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"must be a number ({self.doc})")
            v = float(value)
        elif self.type == "duration":
            try:
                v = parse_duration(value)
            except DurationError as e:
                raise ValueError(str(e)) from None
        elif self.type == "decimal":
            if isinstance(value, (bool, float)) or not isinstance(value, (str, int)):
                raise ValueError('must be a decimal string such as "1000.00"')
            try:
                v = Decimal(str(value))
            except InvalidOperation:
                raise ValueError(f"{value!r} is not a decimal amount") from None
            if not v.is_finite():
                raise ValueError(f"{value!r} is not a decimal amount")
            return str(v)
        elif self.type == "choice":
            if value not in self.choices:
                raise ValueError(f"must be one of {', '.join(map(str, self.choices))}")
            return value
        elif self.type == "bool":
            if not isinstance(value, bool):
                raise ValueError("must be true or false")
            return value
        else:  # pragma: no cover - a programming error
            raise AssertionError(self.type)
        if self.lo is not None and v < self.lo:
            raise ValueError(f"must be >= {self.lo:g} ({self.doc})")
        if self.hi is not None and v > self.hi:
            raise ValueError(f"must be <= {self.hi:g} ({self.doc})")
        return v


class FaultKind:
    """Base of every fault kind. Subclasses set the class attributes and implement apply/undo."""

    kind: ClassVar[str]
    family: ClassVar[str]                    # toxic | process | platform
    doc: ClassVar[str]
    attrs: ClassVar[dict[str, Attr]] = {}
    needs_duration: ClassVar[bool] = True    # a window (`for:`) or an instant (kill, revoke)
    # the stack backends that can apply it (`invoice-chaos list` shows them; a run on any
    # other backend is refused before anything starts)
    backends: ClassVar[tuple[str, ...]] = ("local", "docker")

    @classmethod
    def extra_keys(cls) -> set[str]:
        return set()

    @classmethod
    def apply(cls, ctx: Any, fault: Any) -> dict:   # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def undo(cls, ctx: Any, fault: Any) -> None:   # pragma: no cover - abstract
        raise NotImplementedError


KINDS: dict[str, type[FaultKind]] = {}


def register(cls: type[FaultKind]) -> type[FaultKind]:
    KINDS[f"{cls.family}:{cls.kind}"] = cls
    return cls


def kinds_of(family: str) -> dict[str, type[FaultKind]]:
    return {c.kind: c for c in KINDS.values() if c.family == family}


def check_attrs(kind: type[FaultKind], raw: dict[str, Any],
                problem: Callable[[str, str], None]) -> dict[str, Any]:
    """Convert the kind's attributes from `raw` (defaults filled); report unknown keys."""
    params: dict[str, Any] = {}
    allowed = COMMON_KEYS | set(kind.attrs) | kind.extra_keys()
    for key in raw:
        if key not in allowed:
            known = ", ".join(sorted(set(kind.attrs) | kind.extra_keys())) or "none"
            problem(str(key), f"unknown attribute {key!r} for {kind.kind}; its attributes: {known}")
    for name, attr in kind.attrs.items():
        if name in raw:
            try:
                params[name] = attr.convert(raw[name])
            except ValueError as e:
                problem(name, str(e))
        else:
            params[name] = attr.default
    return params
