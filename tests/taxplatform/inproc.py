"""The platform app in-process through `httpx.ASGITransport` (real SQLite, no socket)."""
from __future__ import annotations

import json
from pathlib import Path

import httpx

from fakes.common.sellers import generate_sellers, write_sellers
from fakes.taxplatform.app import create_app
from fakes.taxplatform.cli import build_platform


class InProc:
    def __init__(self, tmp: Path, config: dict | None = None, n_sellers: int = 3,
                 clock=None) -> None:
        self.sellers = generate_sellers(n_sellers, seed=5)
        sf = tmp / "sellers.json"
        write_sellers(sf, self.sellers)
        self.platform, *_ = build_platform(tmp / "data", sf,
                                           json.dumps(config) if config else None, clock)
        self.app = create_app(self.platform)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                        base_url="http://platform")

    def sid(self, i: int = 0) -> str:
        return self.sellers[i]["seller_tax_id"]

    async def token(self, i: int = 0) -> dict[str, str]:
        s = self.sellers[i]
        r = await self.client.post("/v1/auth/token", json={"seller_tax_id": s["seller_tax_id"],
                                                           "secret": s["secret"]})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    async def close(self) -> None:
        await self.client.aclose()
        self.platform.committer.close()
        self.platform.store.close()
