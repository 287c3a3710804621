"""Client adapters (design.md s.14): drive a system that has its own API.

A user writes a small `Adapter` subclass that maps the harness's four customer operations
(issue, query, refund, verify) onto the system's own calls and its responses onto an
`Answer`; the load, the drain, the final read, the history, the checker and the report stay
as they are. docs/sut-contract.md "Your system has its own API" walks through one.

The names below are imported on first use, so that the scenario parser, which only reads
`FILE.py:Class` (spec.py), does not load the load path's HTTP client.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Adapter", "Answer", "Unavailable", "Response", "AdapterHttp"]

if TYPE_CHECKING:
    from .adapter import Adapter, Unavailable
    from .answer import Answer
    from .http import AdapterHttp, Response

_HOME = {"Adapter": "adapter", "Unavailable": "adapter", "Answer": "answer",
         "Response": "http", "AdapterHttp": "http"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        import importlib
        return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
