"""What `--client` / `merchant.client` names: `FILE.py:Class`, and the adapter as it travels
with the run's settings. Light on purpose (no HTTP client imported): the scenario parser
uses it."""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ClientError", "ClientSpec", "parse_spec"]


class ClientError(ValueError):
    """The adapter cannot be used; the message says why (exit 2 before anything starts)."""


@dataclass(frozen=True)
class ClientSpec:
    """An adapter as it travels: where it came from, its class, the file's text."""

    path: str              # absolute path of the file on the machine that started the run
    cls: str
    source: str

    @property
    def label(self) -> str:
        return f"{self.path}:{self.cls}"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()[:12]

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ClientSpec":
        return cls(str(data["path"]), str(data["cls"]), str(data["source"]))


def parse_spec(text: str) -> tuple[str, str]:
    """`path/to/file.py:ClassName` -> (path, class name), or ClientError saying what is wrong."""
    if not isinstance(text, str) or ":" not in text:
        raise ClientError(f"{text!r}: expected FILE.py:Class (e.g. examples/envelope_shop/"
                          "adapter.py:EnvelopeShop)")
    path, _, name = text.rpartition(":")
    if not path.endswith(".py"):
        raise ClientError(f"{text!r}: expected FILE.py:Class; {path!r} is not a .py file")
    if not name.isidentifier():
        raise ClientError(f"{text!r}: {name!r} is not a Python class name")
    return path, name
