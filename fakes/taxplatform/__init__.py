"""The fake tax platform (design.md s.5, s.12, s.13): `python -m fakes.taxplatform --port P ...`.

One ledger core (`core`, over `store`, `tokens`, `config`, `numbering`, `clock`) and one
protocol front-end per profile (`frontends/`, registered by name); `app` (HTTP/OpenAPI),
`cli` (entry point). docs/internals.md has the map.
"""
from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    from .cli import main as _main
    return _main(argv)
