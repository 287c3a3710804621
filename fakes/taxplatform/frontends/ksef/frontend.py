"""The `ksef` front-end registered with the platform (frontends/base.py).

Builds the desk over the ledger core: the fake's key pairs kept beside the data (so
sessions survive a restart), each seller's KSeF token from SELLERS_FILE (the seller's
`secret`, design.md s.13), the rate limiter with the config's scale, and mounts the routes
under /v2 and /api/v2 (beside s.5's read path, which every profile serves).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..base import Frontend, register
from ..readpath import ReadPath
from .crypto import KeyRing
from .desk import SCHEMA, KsefDesk, KsefSettings
from .http import create_ksef_app, mounts
from .limits import RateLimiter

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ...core import Ledger

__all__ = ["KsefFrontend"]


@register
class KsefFrontend(Frontend):
    name = "ksef"
    index_request_keys = False          # the desk writes its own ledger rows
    SCHEMA = SCHEMA

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(ledger)
        cfg = ledger.config
        tokens = {secret: seller for seller, secret in ledger.sellers.items()}
        self.keys = KeyRing.load_or_create(ledger.store.path.parent)
        self.desk = KsefDesk(ledger, self.keys, KsefSettings(
            processing_delay_s=cfg.processing_delay_ms / 1000.0, ksef_tokens=tokens,
            access_ttl_s=cfg.token_ttl_s))
        self.limiter = RateLimiter(ledger.clock, cfg.ksef_rate_limits, cfg.ksef_time_scale)
        self.app = create_ksef_app(self.desk, self.limiter)

    def mount(self, app: FastAPI) -> None:
        # s.5's read path too (login with the seller's KSeF token as secret, read by KSeF
        # number, search by P_2 or NrZamowienia): the harness's drain and final read use it
        ReadPath(self.ledger).mount(app)
        app.router.routes.extend(mounts(self.app))

    def start(self) -> None:
        self.desk.start()

    async def stop(self) -> None:
        await self.desk.stop()

    def revoke_tokens(self) -> int:
        return self.desk.revoke_all()

    def stats_json(self) -> dict[str, Any]:
        return {"ksef": self.desk.stats_json()}
