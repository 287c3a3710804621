"""The bundled merchant's platform clients, one per protocol, registered by profile name
(`PLATFORM_PROFILE`): the issuing core (service.py) is one, the wire is chosen here.

    clearance  design.md s.5: the fake's own API (clearance.py)
    direct     design.md s.12: 乐企-style numbering and batched uploads (direct.py)
    ksef       design.md s.13: Poland's KSeF API 2.0, the merchant as an ERP (ksef.py)
    nuonuo     design.md s.13: 诺诺开放平台 open API (nuonuo.py)
"""
from __future__ import annotations

from . import clearance, direct, ksef, nuonuo  # noqa: F401 - each registers itself (base.register)
from .base import PLATFORMS, Core, Platform, make_platform, register

__all__ = ["PLATFORMS", "Core", "Platform", "make_platform", "register"]
