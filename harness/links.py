"""The links of the stack (design.md s.2, s.13): each is a Toxiproxy proxy, named by who
talks to whom ("caller->callee"). The one list: the stack creates a proxy per name, link
faults name one. `taxplatform->merchant` carries a platform's callbacks (nuonuo's
callBackUrl), so a callback can be delayed, reset or lost like any other traffic."""
from __future__ import annotations

__all__ = ["LINKS", "CLIENT_MERCHANT", "MERCHANT_PLATFORM", "CLIENT_PLATFORM",
           "PLATFORM_MERCHANT", "upstream_of"]

CLIENT_MERCHANT = "client->merchant"
MERCHANT_PLATFORM = "merchant->taxplatform"
CLIENT_PLATFORM = "client->taxplatform"
PLATFORM_MERCHANT = "taxplatform->merchant"
LINKS: tuple[str, ...] = (CLIENT_MERCHANT, MERCHANT_PLATFORM, CLIENT_PLATFORM, PLATFORM_MERCHANT)


def upstream_of(link: str) -> str:
    """The service a link leads to (the part after "->")."""
    return link.split("->", 1)[1]
