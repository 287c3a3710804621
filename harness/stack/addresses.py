"""The four addresses every stack backend offers, named once.

A stack (local processes or Docker containers) knows one thing of its own: where a
named endpoint (`merchant`, `taxplatform`, or a link such as `client->merchant`)
listens. The customer-facing and the direct addresses follow from that, so both
backends derive them here rather than each spelling them out.
"""
from __future__ import annotations

__all__ = ["ServiceAddresses"]


class ServiceAddresses:
    """Mixin: the customer-facing URLs go through Toxiproxy, the direct ones do not."""

    def url(self, name: str) -> str:          # pragma: no cover - each backend defines it
        raise NotImplementedError

    @property
    def merchant_url(self) -> str:            # through client->merchant
        return self.url("client->merchant")

    @property
    def platform_url(self) -> str:            # through client->taxplatform
        return self.url("client->taxplatform")

    @property
    def merchant_direct(self) -> str:         # the drain and the harness's own checks
        return self.url("merchant")

    @property
    def platform_direct(self) -> str:         # the ledger and the admin faults
        return self.url("taxplatform")
