"""What a protocol front-end is (design.md s.13), and the registry of front-ends by name.

A front-end maps one wire format onto the ledger core (`core.Ledger`): it adds its routes
to the app, may answer its hottest routes before FastAPI's layers (`fast_route`), may run
background work (`start`/`stop`: a processor deciding later), may add tables to the store
(`SCHEMA`) and figures to `/_admin/stats`. The core never imports a front-end; a front-end
registers itself here under its profile name, the way Toxiproxy registers its toxics, and
`create` builds the one a platform runs. An unknown name is a clear error.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..core import Ledger, Outcome

__all__ = ["Frontend", "FastHandler", "register", "create", "names", "frontend_class",
           "UnknownProfile"]

#: (ASGI scope, raw body) -> the answer; raises `ApiError` for a refusal
FastHandler = Callable[[dict[str, Any], bytes], Awaitable["Outcome"]]


class UnknownProfile(ValueError):
    """A profile name no front-end registered."""


class Frontend:
    """Base of every front-end: the hooks the app and the core call, all optional except
    `mount`. `name` is the profile name; `index_request_keys` says whether the core's
    `commit` is the only writer of invoice rows (see `Ledger._keys`)."""

    name: ClassVar[str] = ""
    index_request_keys: ClassVar[bool] = True
    #: SQL run once at start (CREATE TABLE IF NOT EXISTS ...): the front-end's own tables
    SCHEMA: ClassVar[str] = ""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        if self.SCHEMA:
            ledger.store.add_schema(self.SCHEMA)
        ledger.frontend = self

    def mount(self, app: FastAPI) -> None:
        """Add this protocol's routes to `app` (the core's admin routes are already there)."""
        raise NotImplementedError

    def fast_route(self, method: str, path: str) -> FastHandler | None:
        """A handler answering this request straight from the ASGI scope (same rules, same
        bodies), or None to let FastAPI route it. Only for the hottest routes."""
        return None

    def start(self) -> None:
        """Start background work (inside the event loop, from the app's lifespan)."""

    async def stop(self) -> None:
        """Stop background work before the store closes."""

    def revoke_tokens(self) -> int:
        """Forget the front-end's own tokens (`revoke_tokens` fault); how many there were."""
        return 0

    def stats_json(self) -> dict[str, Any]:
        """Keys merged into `/_admin/stats`."""
        return {}

    def iter_uploads(self) -> Iterator[bytes] | None:
        """NDJSON for `/_admin/uploads` (the direct profile's uploads), None when the
        profile has none."""
        return None


_REGISTRY: dict[str, type[Frontend]] = {}


def register(cls: type[Frontend]) -> type[Frontend]:
    """Class decorator: make `cls` the front-end of profile `cls.name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__}: a front-end needs a profile name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"profile {cls.name!r} is already registered by "
                         f"{_REGISTRY[cls.name].__name__}")
    _REGISTRY[cls.name] = cls
    return cls


def names() -> tuple[str, ...]:
    """Every registered profile, in registration order."""
    return tuple(_REGISTRY)


def frontend_class(name: str) -> type[Frontend]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownProfile(f"unknown profile {name!r}; known: {', '.join(names())}") from None


def create(name: str, ledger: Ledger) -> Frontend:
    """The front-end of profile `name` over `ledger`; `UnknownProfile` names the known ones."""
    return frontend_class(name)(ledger)
