"""The HTTP client of the fake's own API (design.md s.5 and s.12, both behind
`POST /v1/auth/token` and a Bearer token): login and token cache, and the one place where
an answer of those profiles is classified.

    ok         2xx: the platform answered with what was asked
    refused    4xx other than 401/429: the invoice was NOT issued (definite)
    throttled  429: not issued; come back after `retry_after`
    unknown    5xx, timeout, reset, refused connection: the invoice may or may not exist

A 401 drops the cached token, logs in again and repeats the call once.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

from ..http import AsyncHttp, Response, TransportError
from .base import Kind, Reply

__all__ = ["Reply", "PlatformClient"]

def _retry_after(resp: Response) -> float | None:
    raw = resp.headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def classify(resp: Response) -> Reply:
    try:
        body = resp.json()
    except ValueError:
        body = None
    err = body.get("error") if isinstance(body, dict) else None
    msg = body.get("message") if isinstance(body, dict) else resp.text[:200]
    s = resp.status_code
    if 200 <= s < 300:
        return Reply("ok", s, body)
    if s == 429:
        return Reply("throttled", s, body, _retry_after(resp) or 1.0, err, msg)
    if 400 <= s < 500:
        return Reply("refused", s, body, None, err or f"http_{s}", msg)
    return Reply("unknown", s, body, _retry_after(resp), err or f"http_{s}", msg)


class PlatformClient:
    """One keep-alive pool (http.py) for the whole merchant; tokens cached per seller until
    shortly before they expire, and one login per seller at a time (under a burst every
    request of a seller used to log in on its own)."""

    def __init__(self, base_url: str, secrets: dict[str, str], timeout_s: float):
        self.base_url = base_url
        self.secrets = secrets
        self.timeout_s = timeout_s
        self.http = AsyncHttp(base_url, max_connections=64)
        self._tokens: dict[str, tuple[str, float]] = {}
        self._logins: dict[str, asyncio.Lock] = {}

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _login(self, seller: str, timeout: float) -> Reply:
        try:
            resp = await self.http.request("POST", "/v1/auth/token", timeout=timeout,
                                           json={"seller_tax_id": seller, "secret": self.secrets.get(seller, "")})
        except TransportError as e:
            return Reply("unknown", None, None, None, type(e).__name__, str(e) or type(e).__name__)
        reply = classify(resp)
        if reply.kind == "ok" and isinstance(reply.body, dict) and "token" in reply.body:
            ttl = float(reply.body.get("expires_in", 600))
            self._tokens[seller] = (reply.body["token"], time.monotonic() + ttl * 0.9)
        elif reply.kind == "ok":
            return Reply("unknown", reply.status, reply.body, None, "bad_login_answer", "no token in answer")
        return reply

    async def call(self, method: str, path: str, seller: str, *, json: Any = None,
                   params: dict[str, str] | None = None, timeout: float | None = None) -> Reply:
        """One platform call with a valid token; never raises for network trouble."""
        timeout = self.timeout_s if timeout is None else max(0.05, min(timeout, self.timeout_s))
        for attempt in range(2):
            tok = self._tokens.get(seller)
            if tok is None or tok[1] <= time.monotonic():
                async with self._logins.setdefault(seller, asyncio.Lock()):
                    tok = self._tokens.get(seller)
                    login = (Reply("ok") if tok is not None and tok[1] > time.monotonic()
                             else await self._login(seller, timeout))
                if login.kind != "ok":
                    # A failed login issued nothing: report it as not-issued-yet, never as refused
                    # (a wrong secret is a configuration error, not the customer's).
                    kind: Kind = "throttled" if login.kind == "throttled" else "unknown"
                    return Reply(kind, login.status, login.body, login.retry_after or 1.0,
                                 f"login:{login.error_code}", login.message)
                tok = self._tokens[seller]
            try:
                resp = await self.http.request(method, path, json=json, params=params, timeout=timeout,
                                               headers={"Authorization": f"Bearer {tok[0]}"})
            except TransportError as e:
                return Reply("unknown", None, None, None, type(e).__name__, str(e) or type(e).__name__)
            if resp.status_code == 401 and attempt == 0:
                self._tokens.pop(seller, None)
                continue
            reply = classify(resp)
            if resp.status_code == 401:
                return Reply("throttled", 401, reply.body, 1.0, "unauthorized", reply.message)
            return reply
        raise AssertionError("unreachable")
