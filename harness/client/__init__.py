"""Client adapters (design.md s.14): drive a system that has its own API.

A user writes a small `Adapter` subclass that maps the harness's four customer operations
(issue, query, refund, verify) onto the system's own calls and its responses onto an
`Answer`; the load, the drain, the final read, the history, the checker and the report stay
as they are. docs/sut-contract.md "Your system has its own API" walks through one.
"""
from __future__ import annotations

from .adapter import Adapter, Unavailable
from .answer import Answer
from .http import AdapterHttp, Response

__all__ = ["Adapter", "Answer", "Unavailable", "Response", "AdapterHttp"]
