"""The protocol front-ends of the fake platform, one module (or package) per profile.

Importing this package registers the built-in ones (`base.register`); `base.create(name,
ledger)` builds one by name. A new profile is a new module here plus one import line below
(docs/internals.md, "Adding a platform profile").
"""
from __future__ import annotations

from . import clearance, direct, nuonuo  # noqa: F401 - each registers itself
from .ksef import frontend as _ksef  # noqa: F401 - registers the ksef profile
from .base import Frontend, UnknownProfile, create, frontend_class, names

__all__ = ["Frontend", "UnknownProfile", "create", "frontend_class", "names"]
