"""The fake 数电票 tax platform (design.md s.5): `python -m fakes.taxplatform --port P ...`.

Modules, one job each: `validation` (pure request checks and amounts), `numbering`
(20-digit numbers), `store` (SQLite primary/replica, group commit), `tokens` (login),
`config` (config and fault knobs), `service` (the rules), `schemas` + `app` (HTTP/OpenAPI),
`cli` (entry point).
"""
from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    from .cli import main as _main
    return _main(argv)
