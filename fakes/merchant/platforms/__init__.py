"""The bundled merchant's platform clients, one per protocol, registered by profile name
(`PLATFORM_PROFILE`): the issuing core (service.py) is one, the wire is chosen here.

    clearance  design.md s.5: the fake's own API (clearance.py)
    direct     design.md s.12: 乐企-style numbering and batched uploads (direct.py)
"""
from __future__ import annotations

from typing import Any, Callable

from .base import Core, Platform

__all__ = ["PLATFORMS", "Core", "Platform", "make_platform", "register"]

PLATFORMS: dict[str, type[Platform]] = {}


def register(name: str) -> Callable[[type[Platform]], type[Platform]]:
    """Class decorator: the client of profile `name`."""
    def put(cls: type[Platform]) -> type[Platform]:
        PLATFORMS[name] = cls
        return cls
    return put


def make_platform(profile: str, core: Core, sellers: list[dict[str, Any]]) -> Platform:
    try:
        cls = PLATFORMS[profile]
    except KeyError:
        raise ValueError(f"unknown platform profile {profile!r}; known: {', '.join(PLATFORMS)}") from None
    return cls(core, sellers)


from . import clearance, direct  # noqa: E402,F401  - each registers itself
