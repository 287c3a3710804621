"""The nuonuo profile (design.md s.13): 诺诺开放平台's open API (protocols/nuonuo.md).

`signing` (the envelope's HMAC-SHA1), `codes` (every code it answers), `orders` (a wire
order -> the core's order, pure), `frontend` (routes, the processor, callbacks).
"""
from __future__ import annotations

from .frontend import NuonuoFrontend

__all__ = ["NuonuoFrontend"]
