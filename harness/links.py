"""The three links of the stack (design.md s.2): each is a Toxiproxy proxy, named by who
talks to whom. The one list: the stack creates a proxy per name, link faults name one."""
from __future__ import annotations

__all__ = ["LINKS", "CLIENT_MERCHANT", "MERCHANT_PLATFORM", "CLIENT_PLATFORM"]

CLIENT_MERCHANT = "client->merchant"
MERCHANT_PLATFORM = "merchant->taxplatform"
CLIENT_PLATFORM = "client->taxplatform"
LINKS: tuple[str, ...] = (CLIENT_MERCHANT, MERCHANT_PLATFORM, CLIENT_PLATFORM)
